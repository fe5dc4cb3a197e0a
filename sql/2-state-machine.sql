-- The state machine. Every status change goes through ticketing.apply_locked_transitions (called by
-- apply_transitions, or by the expiry sweep on tickets it has locked), which reads the transitions
-- table; the guard trigger rejects status writes made any other way.
--
-- SQLSTATEs raised here (documented in the README):
--   TL403  a status/seq write that did not come through the state machine
--   TL404  unknown ticket
--   TL409  transition not allowed from the ticket's current status
--   TL422  invalid argument (unknown status, missing or oversized event_id, meta not a JSON object, ...)

create function ticketing.guard_ticket_status() returns trigger
language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    raise exception using errcode = 'TL403',
      message = format('ticket %s: new tickets start as usable with seq 0 (got status %s, seq %s)', new.id, new.status, new.seq);
  end if;
  raise exception using errcode = 'TL403',
    message = format('ticket %s: status may only change through ticketing.transition_ticket (attempted %s -> %s)', old.id, old.status, new.status),
    hint = 'call ticketing.transition_ticket(ticket_id, new_status, event_id)';
end $$;

-- The WHEN clauses are evaluated without calling PL/pgSQL, so the guard costs nothing on the state
-- machine's own path; ticketing.state_machine is set only for the duration of the functions below.
create trigger tickets_status_guard
  before update of status, seq on ticketing.tickets
  for each row
  when ((old.status is distinct from new.status or old.seq is distinct from new.seq)
        and current_setting('ticketing.state_machine', true) is distinct from 'on')
  execute function ticketing.guard_ticket_status();

create trigger tickets_insert_guard
  before insert on ticketing.tickets
  for each row
  when (new.status <> 'usable' or new.seq <> 0)
  execute function ticketing.guard_ticket_status();

create function ticketing.invalid_argument(p_message text) returns void
language plpgsql as $$
begin
  raise exception using errcode = 'TL422', message = p_message;
end $$;

create function ticketing.check_event_id(p_event_id text) returns void
language sql as $$
  select case
    when p_event_id is null or length(p_event_id) = 0 then ticketing.invalid_argument('event_id is required')
    when length(p_event_id) > 200 then ticketing.invalid_argument(format('event_id is %s characters long; the limit is 200', length(p_event_id)))
  end;
$$;

create function ticketing.check_meta(p_meta jsonb) returns void
language sql as $$
  select case
    when p_meta is null or jsonb_typeof(p_meta) <> 'object' then ticketing.invalid_argument('meta must be a JSON object')
    when octet_length(p_meta::text) > 16384 then ticketing.invalid_argument(format('meta is %s bytes; the limit is 16384', octet_length(p_meta::text)))
  end;
$$;

-- Wakes the event dispatchers of every daemon once per statement, not once per row.
create function ticketing.notify_outbox() returns trigger
language plpgsql as $$
begin
  perform pg_notify('ticketing_outbox', '');
  return null;
end $$;
create trigger outbox_notify after insert on ticketing.outbox
  for each statement execute function ticketing.notify_outbox();

-- Recomputes the status of open orders from their tickets. The orders are locked first, in id order
-- (concurrent sweeps never deadlock on them), and counted in a later statement: under READ COMMITTED
-- that statement sees every sibling ticket committed by whoever held the order lock before us.
create function ticketing.recompute_orders(p_order_ids bigint[])
returns table (completed integer, cancelled integer)
language plpgsql
set search_path = ticketing, pg_temp
as $$
begin
  perform 1 from ticketing.orders o
   where o.id = any(p_order_ids) and o.status = 'open'
   order by o.id
   for update;

  return query
  with agg as (
    select t.order_id,
           bool_and(s.terminal) as all_terminal,
           bool_and(t.status = 'refunded') as all_refunded
      from ticketing.tickets t
      join ticketing.ticket_statuses s on s.status = t.status
     where t.order_id = any(p_order_ids)
     group by t.order_id
  ), upd as (
    update ticketing.orders o
       set status = case when agg.all_refunded then 'cancelled' else 'completed' end,
           completed_at = case when agg.all_refunded then null else clock_timestamp() end,
           cancelled_at = case when agg.all_refunded then clock_timestamp() end
      from agg
     where o.id = any(p_order_ids) and o.id = agg.order_id and o.status = 'open' and agg.all_terminal
    returning o.id, o.status, coalesce(o.completed_at, o.cancelled_at) as at
  ), ev as (
    insert into ticketing.outbox (event_id, type, order_id, payload)
    select format('order:%s:%s', upd.id, upd.status), 'order.' || upd.status, upd.id,
           jsonb_build_object('order_id', upd.id, 'status', upd.status, 'occurred_at', upd.at)
      from upd
  )
  select (count(*) filter (where upd.status = 'completed'))::integer,
         (count(*) filter (where upd.status = 'cancelled'))::integer
    from upd;
end $$;

-- The one place a status changes, for one ticket or a whole batch, with the same guards and writes:
-- status + seq, audit row, outbox event, order recompute, all in the caller's transaction.
-- Never raises for a single ticket's outcome; it reports it: applied / duplicate / illegal / unknown.
-- The caller must hold FOR UPDATE locks on every ticket of p_ticket_ids: the statuses read here decide
-- the transitions, so no other transaction may change them before commit. apply_transitions (below)
-- takes the locks; the expiry sweep calls this directly with the tickets its SKIP LOCKED pick locked.
create function ticketing.apply_locked_transitions(
  p_ticket_ids bigint[], p_new_status text, p_event_id text, p_event text, p_meta jsonb
) returns table (ticket_id bigint, outcome text, completed_orders integer, cancelled_orders integer)
language plpgsql
set search_path = ticketing, pg_temp
-- Every statement below (and in recompute_orders) looks rows up by key (= any(array)), so one plan fits
-- any batch: a generic plan, made once per session. Otherwise the planner re-plans the large statement
-- on every call, which costs more than running it for a single ticket.
set plan_cache_mode = force_generic_plan
as $$
declare
  v_valid_end timestamptz;
  v_ids bigint[];
  v_outcomes text[];
  v_orders bigint[];
  v_completed integer := 0;
  v_cancelled integer := 0;
begin
  perform ticketing.check_event_id(p_event_id);
  perform ticketing.check_meta(p_meta);
  if p_new_status is null or not exists (select 1 from ticketing.ticket_statuses s where s.status = p_new_status) then
    perform ticketing.invalid_argument(format('unknown ticket status %L', p_new_status));
  end if;
  if length(p_event) > 200 then
    perform ticketing.invalid_argument('event is longer than 200 characters');
  end if;
  -- A re-issue (changed -> usable) may carry the ticket's new validity.
  if p_new_status = 'usable' and p_meta ? 'valid_end' then
    begin
      v_valid_end := (p_meta ->> 'valid_end')::timestamptz;
    exception when others then
      perform ticketing.invalid_argument(format('meta.valid_end %L is not a timestamp', p_meta ->> 'valid_end'));
    end;
  end if;

  with input as (
    select t.id, t.order_id, t.status as prev_status, tr.event_type,
           d.dup is not null as dup
      from ticketing.tickets t
      left join ticketing.transitions tr on tr.from_status = t.status and tr.to_status = p_new_status
      -- A ticket that never changed (seq 0) has no audit row to repeat; the others cost one probe of the
      -- idempotency key each (LIMIT keeps the planner from turning it into a scan of the whole audit).
      left join lateral (select true as dup from ticketing.ticket_status_audit a
                          where t.seq > 0 and a.ticket_id = t.id and a.new_status = p_new_status
                            and a.event_id = p_event_id
                          limit 1) d on true
     where t.id = any(p_ticket_ids)
  ), upd as (
    update ticketing.tickets t
       set status = p_new_status, seq = t.seq + 1, updated_at = clock_timestamp(),
           valid_end = coalesce(v_valid_end, t.valid_end)
      from input i
     where t.id = i.id and not i.dup and i.event_type is not null
    returning t.id, t.order_id, t.seq, t.valid_end, i.prev_status, i.event_type
  ), aud as (
    insert into ticketing.ticket_status_audit (ticket_id, seq, prev_status, new_status, event_id, event, meta)
    select u.id, u.seq, u.prev_status, p_new_status, p_event_id, p_event, p_meta from upd u
  ), ev as (
    insert into ticketing.outbox (event_id, type, ticket_id, order_id, seq, payload)
    select format('ticket:%s:%s', u.id, u.seq), u.event_type, u.id, u.order_id, u.seq,
           jsonb_build_object('ticket_id', u.id, 'order_id', u.order_id, 'seq', u.seq,
                              'prev_status', u.prev_status, 'status', p_new_status, 'valid_end', u.valid_end,
                              'cause_event_id', p_event_id, 'event', p_event, 'meta', p_meta,
                              'occurred_at', clock_timestamp())
      from upd u
  ), classified as (
    select r.id,
           case when i.id is null then 'unknown'
                when i.dup then 'duplicate'
                when i.event_type is null then 'illegal'
                else 'applied' end as outcome,
           i.order_id
      from (select distinct unnest(p_ticket_ids) as id) r
      left join input i on i.id = r.id
  )
  select array_agg(c.id order by c.id), array_agg(c.outcome order by c.id),
         array_agg(distinct c.order_id) filter (where c.outcome = 'applied')
    into v_ids, v_outcomes, v_orders
    from classified c;

  -- Only a ticket becoming terminal can finish its order: after usable/changing/changed it stays open.
  if v_orders is not null and (select s.terminal from ticketing.ticket_statuses s where s.status = p_new_status) then
    select r.completed, r.cancelled into v_completed, v_cancelled from ticketing.recompute_orders(v_orders) r;
  end if;

  return query select u.id, u.outcome, v_completed, v_cancelled from unnest(v_ids, v_outcomes) as u(id, outcome);
end $$;

-- apply_locked_transitions for callers that hold no lock yet: locks the tickets first, in id order, so
-- two multi-ticket calls never deadlock on each other.
create function ticketing.apply_transitions(
  p_ticket_ids bigint[], p_new_status text, p_event_id text, p_event text, p_meta jsonb
) returns table (ticket_id bigint, outcome text, completed_orders integer, cancelled_orders integer)
language plpgsql
set search_path = ticketing, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  perform 1 from ticketing.tickets t where t.id = any(p_ticket_ids) order by t.id for update;
  return query select * from ticketing.apply_locked_transitions(p_ticket_ids, p_new_status, p_event_id, p_event, p_meta);
end $$;

create function ticketing.transition_ticket(
  ticket_id bigint, new_status text, event_id text, event text default null, meta jsonb default '{}'
) returns text
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_outcome text;
  v_status text;
begin
  if transition_ticket.ticket_id is null then
    perform ticketing.invalid_argument('ticket_id is required');
  end if;
  select r.outcome into v_outcome
    from ticketing.apply_transitions(array[transition_ticket.ticket_id], transition_ticket.new_status,
                                     transition_ticket.event_id, transition_ticket.event, transition_ticket.meta) r;
  if v_outcome = 'unknown' then
    raise exception using errcode = 'TL404', message = format('unknown ticket %s', transition_ticket.ticket_id);
  elsif v_outcome = 'illegal' then
    select t.status into v_status from ticketing.tickets t where t.id = transition_ticket.ticket_id;
    raise exception using errcode = 'TL409',
      message = format('ticket %s: transition %s -> %s is not allowed', transition_ticket.ticket_id, v_status, transition_ticket.new_status),
      detail = format('current status %s', v_status);
  end if;
  return v_outcome;
end $$;
