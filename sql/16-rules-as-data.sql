-- Rules as data, once. The statuses an order and a request can have and the kinds of alert are rows of lookup
-- tables that the columns reference and the operator views read; every rule that depends on a request's kind
-- (its target status, its receipt step, its re-issue, whether a refusal alerts) is read from
-- ticketing.request_kinds. Adding a request kind is one row there and one task file in tasks/.
--
-- The limits on a request's input (event_id, meta) are judged here alone: a raw add_job whose input breaks one
-- ends as a failed request carrying the limit's own words, whichever path claims it.

-- Lookup tables. The columns that reference them stay text with the same values.
create table ticketing.order_statuses (
  status   text primary key,
  final    boolean not null,          -- nothing leaves it: the order's tickets are all terminal
  position smallint not null unique   -- the order operators read them in (status_orders.position)
);
insert into ticketing.order_statuses (status, final, position) values
  ('open', false, 1), ('completed', true, 2), ('cancelled', true, 3);

create table ticketing.request_statuses (
  status   text primary key,
  final    boolean not null,          -- the request is over: its job, if any, only finds it finished
  position smallint not null unique   -- the order operators read them in (status_requests.status_position)
);
insert into ticketing.request_statuses (status, final, position) values
  ('pending', false, 1), ('succeeded', true, 2), ('failed', true, 3);

create table ticketing.alert_kinds (
  kind        text primary key,
  description text not null           -- what raised it; docs/runbook.md says what to do
);
insert into ticketing.alert_kinds (kind, description) values
  ('job_failing', 'a task failed three runs in a row'),
  ('job_stalled', 'the expiry sweep has not succeeded on its schedule'),
  ('request_rejected', 'a refund or change request failed where someone must look at it'),
  ('ticket_quarantined', 'the sweep could not expire a ticket and set it aside'),
  ('event_undeliverable', 'the sink refuses an outbox event, set aside and retried with backoff'),
  ('delivery_gone', 'the notification endpoint answered 410 Gone');
-- Kinds an older daemon or an operator raised before this list existed stay readable.
insert into ticketing.alert_kinds (kind, description)
select distinct a.kind, 'raised before the alert kinds were listed' from ticketing.alerts a
on conflict (kind) do nothing;

alter table ticketing.orders
  drop constraint orders_status_check,
  add constraint orders_status_fkey foreign key (status) references ticketing.order_statuses;
alter table ticketing.ticket_requests
  drop constraint ticket_requests_status_check,
  add constraint ticket_requests_status_fkey foreign key (status) references ticketing.request_statuses;
alter table ticketing.alerts
  add constraint alerts_kind_fkey foreign key (kind) references ticketing.alert_kinds;

-- A kind that re-issues its ticket after the target (change: usable again, valid until the decision's or the
-- request's meta.valid_end). Its requests must carry a usable meta.valid_end, checked on receipt.
alter table ticketing.request_kinds add column reissue_status text references ticketing.ticket_statuses;
comment on column ticketing.request_kinds.reissue_status is
  'after the target, the ticket is re-issued in this status with a new valid_end; null: not re-issued';
-- As the engine, the only role that writes the table once ticketing.harden() has guarded it.
set local role ticketing_engine;
update ticketing.request_kinds set reissue_status = 'usable' where kind = 'change';
reset role;
-- Where operators read the kind (status_requests.kind_position); a kind without one comes after, by name.
alter table ticketing.request_kinds add column position smallint unique;
set local role ticketing_engine;
update ticketing.request_kinds set position = case kind when 'refund' then 1 when 'change' then 2 end;
reset role;

-- The operator views: every status and kind shows, zero counts included, in the tables' order.
create or replace view ticketing.status_orders as
  select s.status, count(o.id) as count, s.position
    from ticketing.order_statuses s
    left join ticketing.orders o on o.status = s.status
   group by s.status, s.position;

create or replace view ticketing.status_requests as
  select k.kind, s.status, count(r.id) as count, k.position as kind_position, s.position as status_position
    from ticketing.request_kinds k
   cross join ticketing.request_statuses s
    left join ticketing.ticket_requests r on r.kind = k.kind and r.status = s.status
   group by k.kind, s.status, k.position, s.position;

create or replace function ticketing.active_alert_counts() returns table(kind text, active integer)
language sql stable
set search_path = ticketing, pg_temp
as $$
  select k.kind, count(a.id)::integer
    from ticketing.alert_kinds k
    left join ticketing.alerts a on a.kind = k.kind and a.cleared_at is null
   group by k.kind
   order by k.kind;
$$;

-- The input limits, as words (null: within them). check_event_id and check_meta raise them at the SQL API;
-- a job's request is failed with them (fail_invalid_request).
create function ticketing.event_id_problem(p_event_id text) returns text
language sql immutable
set search_path = ticketing, pg_temp
as $$
  select case
    when p_event_id is null or length(p_event_id) = 0 then 'event_id is required'
    when length(p_event_id) > 200 then format('event_id is %s characters long; the limit is 200', length(p_event_id))
  end;
$$;

create function ticketing.meta_problem(p_meta jsonb) returns text
language sql immutable
set search_path = ticketing, pg_temp
as $$
  select case
    when p_meta is null or jsonb_typeof(p_meta) <> 'object' then 'meta must be a JSON object'
    when octet_length(p_meta::text) > 16384 then format('meta is %s bytes; the limit is 16384', octet_length(p_meta::text))
  end;
$$;

create or replace function ticketing.check_event_id(p_event_id text) returns void
language sql
set search_path = ticketing, pg_temp
as $$
  select ticketing.invalid_argument(problem) from ticketing.event_id_problem(p_event_id) problem where problem is not null;
$$;

create or replace function ticketing.check_meta(p_meta jsonb) returns void
language sql
set search_path = ticketing, pg_temp
as $$
  select ticketing.invalid_argument(problem) from ticketing.meta_problem(p_meta) problem where problem is not null;
$$;

-- An event_id too long for the index (a few kB) can hold no row: the job's log line is all that is left of it.
create or replace function ticketing.record_bad_request(p_kind text, p_ticket_id bigint, p_event_id text, p_reason text)
returns boolean
language plpgsql
set search_path = ticketing, pg_temp
as $$
begin
  insert into ticketing.ticket_requests (event_id, kind, ticket_id, status, error, finished_at)
  values (p_event_id, p_kind, p_ticket_id, 'failed', left(p_reason, 2000), clock_timestamp())
  on conflict (event_id) do nothing;
  return found;
exception when program_limit_exceeded then
  return false;
end $$;

-- A job whose event_id or meta breaks a limit, for a request nobody recorded yet: the request is recorded as
-- failed with the limit's words, which are returned. Null when the input is within the limits, or when its
-- event_id already names a request (that request's recorded meta is the one that counts).
create function ticketing.fail_invalid_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb)
returns text
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_problem text := coalesce(ticketing.event_id_problem(p_event_id), ticketing.meta_problem(coalesce(p_meta, '{}')));
begin
  if v_problem is null then
    return null;
  end if;
  v_problem := 'invalid payload: ' || v_problem;
  if not ticketing.record_bad_request(p_kind, p_ticket_id, p_event_id, v_problem)
     and exists (select 1 from ticketing.ticket_requests q where q.event_id = p_event_id) then
    return null;
  end if;
  return v_problem;
end $$;

-- claim_request: an input that breaks a limit ends the request ('invalid') before anything is leased.
create or replace function ticketing.claim_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb, p_lease interval)
returns table(outcome text, status text, attempts integer, meta jsonb, lease_token uuid)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  r ticketing.ticket_requests;
begin
  if ticketing.fail_invalid_request(p_kind, p_ticket_id, p_event_id, p_meta) is not null then
    return query select 'invalid', 'failed', 0, '{}'::jsonb, null::uuid;
    return;
  end if;
  insert into ticketing.ticket_requests (event_id, kind, ticket_id, meta)
  values (p_event_id, p_kind, p_ticket_id, coalesce(p_meta, '{}'))
  on conflict (event_id) do nothing;

  update ticketing.ticket_requests q
     set locked_until = clock_timestamp() + p_lease, lease_token = gen_random_uuid(), attempts = q.attempts + 1,
         updated_at = clock_timestamp()
   where q.event_id = p_event_id and q.kind = p_kind and q.ticket_id = p_ticket_id and q.status = 'pending'
     and (q.locked_until is null or q.locked_until < clock_timestamp())
  returning * into r;
  if found then
    return query select 'claimed', r.status, r.attempts, r.meta, r.lease_token;
    return;
  end if;

  select * into r from ticketing.ticket_requests q where q.event_id = p_event_id;
  return query select case when r.kind <> p_kind or r.ticket_id <> p_ticket_id then 'mismatch'
                           when r.status <> 'pending' then 'finished'
                           else 'busy' end,
                      r.status, r.attempts, r.meta, null::uuid;
end $$;

-- The receipt step of a kind with an in-flight status (change: usable -> changing), for the lease holder
-- (p_token null: a caller holding the row lock with no lease, the built-in policy). A kind that re-issues its
-- ticket needs a usable meta.valid_end before the ticket moves. applied / duplicate / rejected / finished
-- (also when the lease is no longer the caller's) / none (the kind has no receipt step).
create function ticketing.begin_request(p_event_id text, p_token uuid) returns text
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  r ticketing.ticket_requests := ticketing.lock_leased_request(p_event_id, p_token);
  k ticketing.request_kinds;
  v_outcome text;
  v_problem text;
begin
  if r.event_id is null then
    return 'finished';
  end if;
  select * into k from ticketing.request_kinds rk where rk.kind = r.kind;
  if k.in_flight_status is null then
    return 'none';
  end if;
  if k.reissue_status is not null then
    v_problem := ticketing.valid_end_problem(r.meta);
    if v_problem is not null then
      perform ticketing.fail_request(p_event_id, p_token, v_problem, true);
      return 'rejected';
    end if;
  end if;
  select a.outcome into v_outcome
    from ticketing.apply_transitions(array[r.ticket_id], k.in_flight_status, p_event_id, k.requested_event, r.meta) a;
  if v_outcome in ('illegal', 'unknown') then
    perform ticketing.fail_request(p_event_id, p_token, ticketing.describe_refusal(r.ticket_id, k.in_flight_status), true);
    return 'rejected';
  end if;
  return v_outcome;
end $$;

drop function ticketing.begin_change(text, uuid);

-- A refusal (by the kind's rule service, or by the database on its behalf): the request fails, with an alert
-- where the kind says a refusal needs someone to look (alert_on_refusal: it leaves the ticket in flight):
-- failed / alerted / not_held (the lease is no longer the caller's, or the request is over).
create function ticketing.refuse_request(p_event_id text, p_token uuid, p_reason text) returns text
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_alert boolean;
begin
  select k.alert_on_refusal into v_alert
    from ticketing.ticket_requests q
    join ticketing.request_kinds k on k.kind = q.kind
   where q.event_id = p_event_id;
  if not ticketing.fail_request(p_event_id, p_token, p_reason, coalesce(v_alert, false)) then
    return 'not_held';
  end if;
  return case when v_alert then 'alerted' else 'failed' end;
end $$;

create or replace function ticketing.apply_decision(p_event_id text, p_token uuid, p_target_status text, p_valid_end timestamptz, p_meta jsonb)
returns table(outcome text, completed_orders integer, cancelled_orders integer)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  r ticketing.ticket_requests := ticketing.lock_leased_request(p_event_id, p_token);
  k ticketing.request_kinds;
  v_outcome text;
  v_meta jsonb;
  v_valid_end timestamptz := p_valid_end;
  v_completed integer := 0;
  v_cancelled integer := 0;
begin
  if r.event_id is null then
    return query select 'finished', 0, 0;
    return;
  end if;
  select * into k from ticketing.request_kinds rk where rk.kind = r.kind;
  v_meta := r.meta || coalesce(p_meta, '{}');
  if p_target_status is distinct from k.target_status then
    perform ticketing.fail_request(p_event_id, p_token,
      format('%s decision target_status %L is not %L', r.kind, p_target_status, k.target_status), true);
    return query select 'rejected', 0, 0;
    return;
  end if;
  if k.reissue_status is not null and v_valid_end is null then
    if ticketing.valid_end_problem(r.meta) is not null then
      -- Only a request recorded before changes had to carry their validity gets here.
      perform ticketing.fail_request(p_event_id, p_token,
        'neither the decision nor the request carries a usable valid_end to re-issue the ticket with', true);
      return query select 'rejected', 0, 0;
      return;
    end if;
    v_valid_end := (r.meta ->> 'valid_end')::timestamptz;
  end if;

  select a.outcome, a.completed_orders, a.cancelled_orders into v_outcome, v_completed, v_cancelled
    from ticketing.apply_transitions(array[r.ticket_id], k.target_status, p_event_id, format('ticket.%s.decided', r.kind), v_meta) a;
  if v_outcome in ('illegal', 'unknown') then
    perform ticketing.fail_request(p_event_id, p_token, ticketing.describe_refusal(r.ticket_id, k.target_status), true);
    return query select 'rejected', 0, 0;
    return;
  end if;

  if k.reissue_status is not null then
    perform ticketing.apply_transitions(array[r.ticket_id], k.reissue_status, p_event_id, 'ticket.reissued',
                                        v_meta || jsonb_build_object('valid_end', v_valid_end));
  end if;

  update ticketing.ticket_requests q
     set status = 'succeeded', error = null, locked_until = null, lease_token = null,
         updated_at = clock_timestamp(), finished_at = clock_timestamp()
   where q.event_id = p_event_id;
  return query select 'succeeded', v_completed, v_cancelled;
end $$;

-- The built-in approve policy: claim, receipt step, decision and its application in one transaction.
-- invalid: the input broke a limit (recorded as failed); unknown: no such ticket (failed, no alert).
create or replace function ticketing.approve_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb)
returns table(outcome text, target_status text, completed_orders integer, cancelled_orders integer)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  k ticketing.request_kinds;
  r ticketing.ticket_requests;
  v_begun text;
begin
  select * into k from ticketing.request_kinds rk where rk.kind = p_kind;
  if ticketing.fail_invalid_request(p_kind, p_ticket_id, p_event_id, p_meta) is not null then
    return query select 'invalid', k.target_status, 0, 0;
    return;
  end if;
  insert into ticketing.ticket_requests (event_id, kind, ticket_id, meta)
  values (p_event_id, p_kind, p_ticket_id, coalesce(p_meta, '{}'))
  on conflict (event_id) do nothing;
  select * into r from ticketing.ticket_requests q where q.event_id = p_event_id for update;
  if r.kind <> p_kind or r.ticket_id <> p_ticket_id then
    return query select 'mismatch', k.target_status, 0, 0;
    return;
  elsif r.status <> 'pending' then
    return query select 'finished', k.target_status, 0, 0;
    return;
  elsif r.locked_until >= clock_timestamp() then
    return query select 'busy', k.target_status, 0, 0;
    return;
  end if;
  if not exists (select 1 from ticketing.tickets t where t.id = p_ticket_id) then
    perform ticketing.fail_request(p_event_id, null, format('unknown ticket %s', p_ticket_id), false);
    return query select 'unknown', k.target_status, 0, 0;
    return;
  end if;

  if k.in_flight_status is not null then
    v_begun := ticketing.begin_request(p_event_id, null);
    if v_begun in ('rejected', 'finished') then
      return query select v_begun, k.in_flight_status, 0, 0;
      return;
    end if;
  end if;

  return query select d.outcome, k.target_status, d.completed_orders, d.cancelled_orders
                 from ticketing.apply_decision(p_event_id, null, k.target_status, null, '{}') d;
end $$;

-- A request of any kind, for services (granted to ticketing_client): recorded and its job queued in the caller's
-- transaction, as request_refund and request_change do for theirs. A kind that re-issues its ticket needs a
-- usable meta.valid_end, refused here before anything is recorded.
create function ticketing.submit_request(kind text, ticket_id bigint, event_id text, meta jsonb default '{}')
returns text
language plpgsql
security definer
set search_path = ticketing, pg_temp
as $$
declare
  v_kind ticketing.request_kinds;
begin
  select * into v_kind from ticketing.request_kinds k where k.kind = submit_request.kind;
  if not found then
    perform ticketing.invalid_argument(format('unknown request kind %L', submit_request.kind));
  end if;
  if v_kind.reissue_status is not null then
    perform ticketing.check_change_meta(submit_request.meta);
  end if;
  return ticketing.enqueue_request(submit_request.kind, submit_request.ticket_id, submit_request.event_id,
                                   submit_request.meta);
end $$;

create or replace function ticketing.request_refund(ticket_id bigint, event_id text, meta jsonb default '{}')
returns text
language sql
security definer
set search_path = ticketing, pg_temp
as $$ select ticketing.submit_request('refund', $1, $2, $3); $$;

create or replace function ticketing.request_change(ticket_id bigint, event_id text, meta jsonb default '{}')
returns text
language sql
security definer
set search_path = ticketing, pg_temp
as $$ select ticketing.submit_request('change', $1, $2, $3); $$;

-- Unchanged but for its comment: one hour after a redemption, a check_order job looks whether the order has
-- reached its final state (one pending check per order).
create or replace function ticketing.redeem_ticket(ticket_id bigint, event_id text, meta jsonb default '{}')
returns text
language plpgsql
security definer
set search_path = ticketing, pg_temp
as $$
declare
  v_outcome text;
  v_order bigint;
begin
  v_outcome := ticketing.transition_ticket(redeem_ticket.ticket_id, 'used', redeem_ticket.event_id, 'ticket.redeem', redeem_ticket.meta);
  if v_outcome = 'applied' then
    select t.order_id into v_order from ticketing.tickets t where t.id = redeem_ticket.ticket_id;
    -- The order's final-state check an hour on; a second redemption keeps the first one's time.
    perform graphile_worker.add_job('check_order', json_build_object('order_id', v_order),
                                    run_at => now() + interval '1 hour',
                                    job_key => 'check_order:' || v_order, job_key_mode => 'preserve_run_at');
  end if;
  return v_outcome;
end $$;

revoke execute on all functions in schema ticketing from public;
grant execute on function ticketing.submit_request(text, bigint, text, jsonb) to ticketing_client;
