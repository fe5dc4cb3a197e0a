-- Alerts, job health, refund/change requests, and the client functions other services call.

-- Raises an alert once per key while it is active; the alert.raised event is delivered like any event.
create function ticketing.raise_alert(p_key text, p_kind text, p_message text, p_details jsonb default '{}')
returns boolean
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_id bigint;
begin
  insert into ticketing.alerts (key, kind, message, details)
  values (p_key, p_kind, p_message, coalesce(p_details, '{}'))
  on conflict (key) where cleared_at is null do nothing
  returning id into v_id;
  if v_id is null then
    return false;
  end if;
  insert into ticketing.outbox (event_id, type, payload)
  values (format('alert:%s:raised', v_id), 'alert.raised',
          jsonb_build_object('alert_id', v_id, 'key', p_key, 'kind', p_kind, 'message', p_message,
                             'details', coalesce(p_details, '{}'), 'occurred_at', clock_timestamp()));
  return true;
end $$;

create function ticketing.clear_alert(p_key text) returns boolean
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_id bigint;
begin
  update ticketing.alerts set cleared_at = clock_timestamp()
   where key = p_key and cleared_at is null
  returning id into v_id;
  if v_id is null then
    return false;
  end if;
  insert into ticketing.outbox (event_id, type, payload)
  values (format('alert:%s:cleared', v_id), 'alert.cleared',
          jsonb_build_object('alert_id', v_id, 'key', p_key, 'occurred_at', clock_timestamp()));
  return true;
end $$;

-- Counts consecutive failed runs of a task; the threshold-th failure in a row raises one alert and a
-- success clears it (and a job_stalled alert of the same task, see src/maintenance/alertMonitor.ts).
create function ticketing.record_job_result(p_task text, p_ok boolean, p_error text default null, p_threshold integer default 3)
returns table (consecutive_failures integer, alert_raised boolean)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_failures integer;
  v_raised boolean := false;
begin
  insert into ticketing.job_health as h (task, consecutive_failures, last_success_at, last_failure_at, last_error)
  values (p_task, case when p_ok then 0 else 1 end,
          case when p_ok then clock_timestamp() end, case when p_ok then null else clock_timestamp() end,
          case when p_ok then null else left(p_error, 2000) end)
  on conflict (task) do update
     set consecutive_failures = case when p_ok then 0 else h.consecutive_failures + 1 end,
         last_success_at = case when p_ok then clock_timestamp() else h.last_success_at end,
         last_failure_at = case when p_ok then h.last_failure_at else clock_timestamp() end,
         last_error = case when p_ok then h.last_error else left(p_error, 2000) end
  returning h.consecutive_failures into v_failures;

  if p_ok then
    perform ticketing.clear_alert('job_failing:' || p_task);
    perform ticketing.clear_alert('job_stalled:' || p_task);
  elsif v_failures >= p_threshold then
    v_raised := ticketing.raise_alert('job_failing:' || p_task, 'job_failing',
      format('%s failed %s runs in a row', p_task, v_failures),
      jsonb_build_object('task', p_task, 'consecutive_failures', v_failures, 'last_error', left(p_error, 2000)));
  end if;
  return query select v_failures, v_raised;
end $$;

-- Records a refund/change request and enqueues its job in the same transaction. A repeated event_id
-- for the same ticket and kind is a no-op; for another ticket or kind it is an error.
create function ticketing.enqueue_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb)
returns text
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_existing ticketing.ticket_requests;
begin
  perform ticketing.check_event_id(p_event_id);
  perform ticketing.check_meta(p_meta);
  if p_ticket_id is null then
    perform ticketing.invalid_argument('ticket_id is required');
  end if;
  if not exists (select 1 from ticketing.tickets t where t.id = p_ticket_id) then
    raise exception using errcode = 'TL404', message = format('unknown ticket %s', p_ticket_id);
  end if;

  insert into ticketing.ticket_requests (event_id, kind, ticket_id, meta)
  values (p_event_id, p_kind, p_ticket_id, p_meta)
  on conflict (event_id) do nothing;
  if not found then
    select * into v_existing from ticketing.ticket_requests r where r.event_id = p_event_id;
    if v_existing.kind <> p_kind or v_existing.ticket_id <> p_ticket_id then
      perform ticketing.invalid_argument(format('event_id %L is already used by a %s request for ticket %s',
                                                p_event_id, v_existing.kind, v_existing.ticket_id));
    end if;
    return 'duplicate';
  end if;

  perform ticketing.enqueue_request_job(p_kind, p_ticket_id, p_event_id, p_meta);
  return 'queued';
end $$;

-- The job of one request. The job key keeps one queued or running job per request, however often the
-- request is enqueued or re-driven.
create function ticketing.enqueue_request_job(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb)
returns void
language sql
set search_path = ticketing, pg_temp
as $$
  select graphile_worker.add_job(format('ticket_%s_requested', p_kind),
                                 json_build_object('ticket_id', p_ticket_id, 'event_id', p_event_id, 'meta', p_meta),
                                 job_key => 'request:' || p_event_id, job_key_mode => 'unsafe_dedupe');
$$;

-- The card's refund job (consumer refund_queue): requests still pending with no live lease, untouched
-- for longer than p_older_than, get their job again. Returns how many were re-driven.
create function ticketing.redrive_requests(p_older_than interval, p_limit integer default 1000)
returns bigint
language sql
set search_path = ticketing, pg_temp
as $$
  with stale as (
    select r.kind, r.ticket_id, r.event_id, r.meta
      from ticketing.ticket_requests r
     where r.status = 'pending'
       and (r.locked_until is null or r.locked_until < clock_timestamp())
       and r.updated_at < clock_timestamp() - p_older_than
     order by r.updated_at
     limit p_limit
  ), touched as (
    update ticketing.ticket_requests r set updated_at = clock_timestamp()
      from stale where r.event_id = stale.event_id
    returning r.event_id
  )
  select count(*)
    from (select ticketing.enqueue_request_job(s.kind, s.ticket_id, s.event_id, s.meta) from stale s) enqueued;
$$;

-- Takes a request for processing: records it if a raw job brought it first, then leases it to the
-- caller unless it is finished or another worker's lease is still running.
-- Outcome: claimed / finished / busy / mismatch (event_id belongs to another ticket or kind).
create function ticketing.claim_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb, p_lease interval)
returns table (outcome text, status text, attempts integer, meta jsonb)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  r ticketing.ticket_requests;
begin
  insert into ticketing.ticket_requests (event_id, kind, ticket_id, meta)
  values (p_event_id, p_kind, p_ticket_id, coalesce(p_meta, '{}'))
  on conflict (event_id) do nothing;

  update ticketing.ticket_requests q
     set locked_until = clock_timestamp() + p_lease, attempts = q.attempts + 1, updated_at = clock_timestamp()
   where q.event_id = p_event_id and q.kind = p_kind and q.ticket_id = p_ticket_id and q.status = 'pending'
     and (q.locked_until is null or q.locked_until < clock_timestamp())
  returning * into r;
  if found then
    return query select 'claimed', r.status, r.attempts, r.meta;
    return;
  end if;

  select * into r from ticketing.ticket_requests q where q.event_id = p_event_id;
  return query select case when r.kind <> p_kind or r.ticket_id <> p_ticket_id then 'mismatch'
                           when r.status <> 'pending' then 'finished'
                           else 'busy' end,
                      r.status, r.attempts, r.meta;
end $$;

-- A transient fault: the request stays pending and the lease is given back for the next attempt.
create function ticketing.release_request(p_event_id text, p_error text) returns void
language sql
set search_path = ticketing, pg_temp
as $$
  update ticketing.ticket_requests
     set locked_until = null, error = left(p_error, 2000), updated_at = clock_timestamp()
   where event_id = p_event_id and status = 'pending';
$$;

-- A final failure. With p_alert the rule violation also raises an alert (card §4).
create function ticketing.fail_request(p_event_id text, p_reason text, p_alert boolean default false)
returns boolean
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  r ticketing.ticket_requests;
begin
  update ticketing.ticket_requests q
     set status = 'failed', error = left(p_reason, 2000), locked_until = null,
         updated_at = clock_timestamp(), finished_at = clock_timestamp()
   where q.event_id = p_event_id and q.status = 'pending'
  returning * into r;
  if not found then
    return false;
  end if;
  if p_alert then
    perform ticketing.raise_alert('request_rejected:' || p_event_id, 'request_rejected',
      format('%s request %s for ticket %s failed: %s', r.kind, p_event_id, r.ticket_id, left(p_reason, 500)),
      jsonb_build_object('event_id', p_event_id, 'kind', r.kind, 'ticket_id', r.ticket_id, 'reason', left(p_reason, 2000)));
  end if;
  return true;
end $$;

-- The change flow's first step on receipt: usable -> changing, audited like any transition.
-- Outcome: applied / duplicate / rejected (request failed and alert raised) / finished.
create function ticketing.begin_change(p_event_id text) returns text
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  r ticketing.ticket_requests;
  v_outcome text;
begin
  select * into r from ticketing.ticket_requests q where q.event_id = p_event_id and q.kind = 'change' for update;
  if not found or r.status <> 'pending' then
    return 'finished';
  end if;
  select a.outcome into v_outcome
    from ticketing.apply_transitions(array[r.ticket_id], 'changing', p_event_id, 'ticket.change.requested', r.meta) a;
  if v_outcome in ('illegal', 'unknown') then
    perform ticketing.fail_request(p_event_id, ticketing.describe_refusal(r.ticket_id, 'changing'), true);
    return 'rejected';
  end if;
  return v_outcome;
end $$;

create function ticketing.describe_refusal(p_ticket_id bigint, p_target text) returns text
language sql stable
set search_path = ticketing, pg_temp
as $$
  select coalesce(
    (select format('state machine refuses %s -> %s for ticket %s', t.status, p_target, t.id)
       from ticketing.tickets t where t.id = p_ticket_id),
    format('unknown ticket %s', p_ticket_id));
$$;

-- Applies the refund-processing / change-service decision in one transaction. A target status other
-- than the kind's own (refund -> refunded, change -> changed), or one the state machine refuses from
-- the ticket's status, fails the request and raises an alert; the ticket is not touched.
-- Outcome: succeeded / rejected / finished (already decided earlier), with the orders it completed.
create function ticketing.apply_decision(p_event_id text, p_target_status text, p_valid_end timestamptz, p_meta jsonb)
returns table (outcome text, completed_orders integer, cancelled_orders integer)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  r ticketing.ticket_requests;
  v_expected text;
  v_outcome text;
  v_meta jsonb;
  v_completed integer := 0;
  v_cancelled integer := 0;
begin
  select * into r from ticketing.ticket_requests q where q.event_id = p_event_id for update;
  if not found or r.status <> 'pending' then
    return query select 'finished', 0, 0;
    return;
  end if;
  v_meta := r.meta || coalesce(p_meta, '{}');
  v_expected := case r.kind when 'refund' then 'refunded' else 'changed' end;
  if p_target_status is distinct from v_expected then
    perform ticketing.fail_request(p_event_id,
      format('%s decision target_status %L is not %L', r.kind, p_target_status, v_expected), true);
    return query select 'rejected', 0, 0;
    return;
  end if;

  select a.outcome, a.completed_orders, a.cancelled_orders into v_outcome, v_completed, v_cancelled
    from ticketing.apply_transitions(array[r.ticket_id], v_expected, p_event_id, format('ticket.%s.decided', r.kind), v_meta) a;
  if v_outcome in ('illegal', 'unknown') then
    perform ticketing.fail_request(p_event_id, ticketing.describe_refusal(r.ticket_id, v_expected), true);
    return query select 'rejected', 0, 0;
    return;
  end if;

  if r.kind = 'change' and p_valid_end is not null then
    perform ticketing.apply_transitions(array[r.ticket_id], 'usable', p_event_id, 'ticket.reissued',
                                        v_meta || jsonb_build_object('valid_end', p_valid_end));
  end if;

  update ticketing.ticket_requests q
     set status = 'succeeded', error = null, locked_until = null,
         updated_at = clock_timestamp(), finished_at = clock_timestamp()
   where q.event_id = p_event_id;
  return query select 'succeeded', v_completed, v_cancelled;
end $$;

-- Client functions: what other services call (SECURITY DEFINER, granted to ticketing_client).
create function ticketing.redeem_ticket(ticket_id bigint, event_id text, meta jsonb default '{}')
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
    -- Card §5.4: one hour after a redemption, check the order's final state; one pending check per order.
    perform graphile_worker.add_job('check_order', json_build_object('order_id', v_order),
                                    run_at => now() + interval '1 hour',
                                    job_key => 'check_order:' || v_order, job_key_mode => 'preserve_run_at');
  end if;
  return v_outcome;
end $$;

create function ticketing.request_refund(ticket_id bigint, event_id text, meta jsonb default '{}')
returns text
language sql
security definer
set search_path = ticketing, pg_temp
as $$ select ticketing.enqueue_request('refund', $1, $2, $3); $$;

create function ticketing.request_change(ticket_id bigint, event_id text, meta jsonb default '{}')
returns text
language sql
security definer
set search_path = ticketing, pg_temp
as $$ select ticketing.enqueue_request('change', $1, $2, $3); $$;
