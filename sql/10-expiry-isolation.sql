-- The expiry sweep and order status, hardened:
--   * one ticket whose transition fails no longer fails its whole batch: the batch is re-run one ticket
--     per subtransaction, the others expire, the offender is set aside in ticketing.expiry_quarantine
--     (alert ticket_quarantined) and retried with backoff by later sweeps;
--   * the sweep never waits on an order row another transaction holds (a client idle in a transaction
--     after redeem_ticket): it locks the batch's orders with SKIP LOCKED and leaves those tickets for later;
--   * an order's completion/cancellation event id never collides with an earlier one of the same order;
--   * recompute_orders is right under REPEATABLE READ and SERIALIZABLE too: a concurrent change to a
--     sibling ticket raises a serialization failure (40001) the caller retries, instead of leaving an
--     order open with every ticket terminal.

-- Tickets the sweep could not expire: the error of their last attempt and when the next one is due. A
-- row disappears when its ticket expires (or leaves usable by another route), and its alert clears.
create table ticketing.expiry_quarantine (
  ticket_id       bigint primary key,
  order_id        bigint not null,
  error           text not null,
  sqlstate        text not null,
  attempts        integer not null,
  quarantined_at  timestamptz not null default clock_timestamp(),
  last_failed_at  timestamptz not null default clock_timestamp(),
  next_attempt_at timestamptz not null
);

-- Order events: `order:<id>:<status>` the first time an order finishes with that status. An order an
-- operator re-opened can finish again; that event takes `order:<id>:<status>:<outbox id>` instead, where
-- the suffix is the event's own outbox row id: no other row can ever carry it, so the ids never collide.
--
-- Isolation: under READ COMMITTED the orders are locked first, in id order (concurrent sweeps never
-- deadlock on them), and counted in a later statement, which sees every sibling ticket committed by
-- whoever held the order lock before us. Under REPEATABLE READ or SERIALIZABLE every statement sees the
-- transaction's first snapshot, so the count could miss a sibling another transaction finished in the
-- meantime. There the siblings are also locked FOR SHARE NOWAIT: a sibling changed since our snapshot
-- makes PostgreSQL raise 40001, a sibling another transaction is changing right now makes us raise it
-- (waiting could deadlock with that transaction, which wants this order's lock next). Either way the
-- caller retries its transaction, as it must for any serialization failure at those levels.
create or replace function ticketing.recompute_orders(p_order_ids bigint[])
returns table (completed integer, cancelled integer)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_open bigint[];
begin
  select array_agg(l.id) into v_open
    from (select o.id from ticketing.orders o
           where o.id = any(p_order_ids) and o.status = 'open'
           order by o.id
             for update) l;
  if v_open is null then
    return query select 0, 0;
    return;
  end if;

  if current_setting('transaction_isolation') <> 'read committed' then
    begin
      perform 1 from ticketing.tickets t where t.order_id = any(v_open) for share nowait;
    exception when lock_not_available then
      raise exception using errcode = 'serialization_failure',
        message = 'could not serialize access: another transaction is changing a ticket of the same order',
        hint = 'retry the transaction';
    end;
  end if;

  return query
  with agg as (
    select t.order_id,
           bool_and(s.terminal) as all_terminal,
           bool_and(t.status = 'refunded') as all_refunded
      from ticketing.tickets t
      join ticketing.ticket_statuses s on s.status = t.status
     where t.order_id = any(v_open)
     group by t.order_id
  ), upd as (
    update ticketing.orders o
       set status = case when agg.all_refunded then 'cancelled' else 'completed' end,
           completed_at = case when agg.all_refunded then null else clock_timestamp() end,
           cancelled_at = case when agg.all_refunded then clock_timestamp() end
      from agg
     where o.id = any(v_open) and o.id = agg.order_id and o.status = 'open' and agg.all_terminal
    returning o.id, o.status, coalesce(o.completed_at, o.cancelled_at) as at
  ), first_time as (
    insert into ticketing.outbox (event_id, type, order_id, payload)
    select format('order:%s:%s', upd.id, upd.status), 'order.' || upd.status, upd.id,
           jsonb_build_object('order_id', upd.id, 'status', upd.status, 'occurred_at', upd.at)
      from upd
    on conflict (event_id) do nothing
    returning order_id
  ), again as (
    insert into ticketing.outbox (id, event_id, type, order_id, payload)
    overriding system value
    select n.id, format('order:%s:%s:%s', upd.id, upd.status, n.id), 'order.' || upd.status, upd.id,
           jsonb_build_object('order_id', upd.id, 'status', upd.status, 'occurred_at', upd.at)
      from upd
     cross join lateral (select nextval(pg_get_serial_sequence('ticketing.outbox', 'id')) as id) n
     where not exists (select 1 from first_time f where f.order_id = upd.id)
  )
  select (count(*) filter (where upd.status = 'completed'))::integer,
         (count(*) filter (where upd.status = 'cancelled'))::integer
    from upd;
end $$;

-- One batch of the expiry sweep: picks up to p_batch_size usable tickets past valid_end (minus the
-- grace period) in (valid_end, id) order, skipping tickets other transactions hold, and expires them
-- through the state machine in one set-based pass. Each call is its own transaction when called on its own.
--
-- p_after_valid_end / p_after_id: resume strictly after the last ticket of the caller's previous batch.
-- The tickets before it were expired by earlier batches, and the index entries they leave behind stay
-- until vacuum: starting at the front every time would step over all of them again, a cost growing
-- with the backlog already swept. A sweep therefore resumes, then makes passes from the front (both
-- null) to pick up what it skipped or what became due behind it, until one expires nothing. last_valid_end / last_id is
-- where the next batch resumes (null when the batch found no ticket).
--
-- Never waits: tickets are picked SKIP LOCKED, and then their orders are locked SKIP LOCKED too (the
-- order lock is the one the recompute needs). A ticket whose order another transaction holds (a client
-- idle in a transaction after redeem_ticket) is left as it is, counted in `skipped`, for a later batch.
-- Waiting there would hold every ticket of the batch, and block their refunds, for as long as that
-- client keeps its transaction open.
--
-- Poison isolation: should the set-based pass fail (anything but a deadlock, a serialization failure or
-- a lock timeout, which the caller retries as a whole), the batch is applied again one ticket per
-- subtransaction. The tickets that go through expire; each one that fails is recorded in
-- ticketing.expiry_quarantine with its error and raises a ticket_quarantined alert naming the ticket and
-- its order. A quarantined ticket is left out of batches until its next_attempt_at (p_retry_after,
-- doubling with every failed attempt, at most 64 times p_retry_after), then tried again like any other;
-- when it expires, its row goes and its alert clears. `quarantined` lists the tickets this batch set aside. When no ticket of a batch of several goes through
-- on its own, the fault is not one ticket's: the batch fails with the first error, as before.
create function ticketing.expire_batch(
  p_batch_size integer, p_grace interval default '0 seconds',
  p_after_valid_end timestamptz default null, p_after_id bigint default null,
  p_retry_after interval default '1 minute'
)
returns table (expired integer, completed_orders integer, cancelled_orders integer, skipped integer,
               quarantined bigint[], last_valid_end timestamptz, last_id bigint)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_ids bigint[];
  v_valid_ends timestamptz[];
  v_orders bigint[];
  v_held bigint[];
  v_any_quarantined boolean;
  v_locked_orders bigint[];
  v_ready bigint[];
  v_ready_orders bigint[];
  v_applied bigint[] := '{}';
  v_completed integer := 0;
  v_cancelled integer := 0;
  v_batch_failed boolean := false;
  v_first_error text;
  v_first_state text;
  v_bad bigint[] := '{}';
  v_bad_orders bigint[] := '{}';
  v_bad_errors text[] := '{}';
  v_bad_states text[] := '{}';
  v_error text;
  v_detail text;
  v_state text;
  v_outcome text;
  v_c integer;
  v_x integer;
  v_count integer;
begin
  if p_batch_size is null or p_batch_size < 1 or p_batch_size > 100000 then
    perform ticketing.invalid_argument(format('batch_size must be between 1 and 100000 (got %s)', p_batch_size));
  end if;
  if (p_after_valid_end is null) <> (p_after_id is null) then
    perform ticketing.invalid_argument('p_after_valid_end and p_after_id go together');
  end if;
  if p_retry_after is null or p_retry_after < interval '0 seconds' then
    perform ticketing.invalid_argument('p_retry_after must be zero or more');
  end if;

  select coalesce(array_agg(q.ticket_id) filter (where q.next_attempt_at > clock_timestamp()), '{}'), count(*) > 0
    into v_held, v_any_quarantined
    from ticketing.expiry_quarantine q;

  -- These locks are the ones apply_locked_transitions needs. SKIP LOCKED never waits, so concurrent
  -- sweeps never deadlock on tickets.
  -- Two statements rather than one with an OR, so each keeps the index range as its plan.
  if p_after_id is null then
    select array_agg(p.id order by p.valid_end, p.id), array_agg(p.valid_end order by p.valid_end, p.id),
           array_agg(p.order_id order by p.valid_end, p.id)
      into v_ids, v_valid_ends, v_orders
      from (select k.id, k.valid_end, k.order_id from ticketing.tickets k
             where k.status = 'usable' and k.valid_end < now() - coalesce(p_grace, '0 seconds')
               and k.id <> all(v_held)
             order by k.valid_end, k.id
             limit p_batch_size
               for update skip locked) p;
  else
    select array_agg(p.id order by p.valid_end, p.id), array_agg(p.valid_end order by p.valid_end, p.id),
           array_agg(p.order_id order by p.valid_end, p.id)
      into v_ids, v_valid_ends, v_orders
      from (select k.id, k.valid_end, k.order_id from ticketing.tickets k
             where k.status = 'usable' and k.valid_end < now() - coalesce(p_grace, '0 seconds')
               and (k.valid_end, k.id) > (p_after_valid_end, p_after_id)
               and k.id <> all(v_held)
             order by k.valid_end, k.id
             limit p_batch_size
               for update skip locked) p;
  end if;
  if v_ids is null then
    return query select 0, 0, 0, 0, '{}'::bigint[], null::timestamptz, null::bigint;
    return;
  end if;

  select array_agg(l.id) into v_locked_orders
    from (select o.id from ticketing.orders o where o.id = any(v_orders) order by o.id for update skip locked) l;
  select coalesce(array_agg(u.id order by u.n), '{}'), coalesce(array_agg(u.order_id order by u.n), '{}')
    into v_ready, v_ready_orders
    from unnest(v_ids, v_orders) with ordinality as u(id, order_id, n)
   where u.order_id = any(v_locked_orders);

  if cardinality(v_ready) > 0 then
    begin
      select coalesce(array_agg(a.ticket_id) filter (where a.outcome = 'applied'), '{}'),
             coalesce(max(a.completed_orders), 0), coalesce(max(a.cancelled_orders), 0)
        into v_applied, v_completed, v_cancelled
        from ticketing.apply_locked_transitions(v_ready, 'expired', 'expire', 'expire_tickets', '{}') a;
    exception
      when serialization_failure or deadlock_detected or lock_not_available then
        raise;
      when others then
        get stacked diagnostics v_first_error = message_text, v_first_state = returned_sqlstate;
        v_batch_failed := true;
    end;
  end if;

  if v_batch_failed then
    for i in 1 .. cardinality(v_ready) loop
      begin
        select a.outcome, a.completed_orders, a.cancelled_orders into v_outcome, v_c, v_x
          from ticketing.apply_locked_transitions(array[v_ready[i]], 'expired', 'expire', 'expire_tickets', '{}') a;
        if v_outcome = 'applied' then
          v_applied := v_applied || v_ready[i];
          v_completed := v_completed + v_c;
          v_cancelled := v_cancelled + v_x;
        end if;
      exception
        when serialization_failure or deadlock_detected or lock_not_available then
          raise;
        when others then
          get stacked diagnostics v_error = message_text, v_detail = pg_exception_detail, v_state = returned_sqlstate;
          v_bad := v_bad || v_ready[i];
          v_bad_orders := v_bad_orders || v_ready_orders[i];
          v_bad_errors := v_bad_errors || concat_ws(': ', v_error, nullif(v_detail, ''));
          v_bad_states := v_bad_states || v_state;
      end;
    end loop;
    if cardinality(v_applied) = 0 and cardinality(v_ready) > 1 then
      raise exception using errcode = v_first_state, message = v_first_error,
        detail = format('no ticket of this expiry batch of %s expires on its own either', cardinality(v_ready));
    end if;
  end if;

  if v_any_quarantined then
    with gone as (
      delete from ticketing.expiry_quarantine q
       where q.ticket_id = any(v_applied)
          or not exists (select 1 from ticketing.tickets t where t.id = q.ticket_id and t.status = 'usable')
      returning q.ticket_id
    )
    select count(ticketing.clear_alert('ticket_quarantined:' || g.ticket_id)) into v_count from gone g;
  end if;

  if cardinality(v_bad) > 0 then
    with held as (
      insert into ticketing.expiry_quarantine as q (ticket_id, order_id, error, sqlstate, attempts, next_attempt_at)
      select u.ticket_id, u.order_id, left(u.error, 2000), u.sqlstate, 1, clock_timestamp() + p_retry_after
        from unnest(v_bad, v_bad_orders, v_bad_errors, v_bad_states) as u(ticket_id, order_id, error, sqlstate)
      on conflict (ticket_id) do update
         set order_id = excluded.order_id, error = excluded.error, sqlstate = excluded.sqlstate,
             attempts = q.attempts + 1, last_failed_at = clock_timestamp(),
             next_attempt_at = clock_timestamp() + p_retry_after * (2 ^ least(q.attempts, 6))
      returning q.ticket_id, q.order_id, q.error, q.sqlstate, q.attempts, q.next_attempt_at
    )
    select count(ticketing.raise_alert('ticket_quarantined:' || b.ticket_id, 'ticket_quarantined',
             format('expiry of ticket %s (order %s) failed %s time(s); next attempt at %s: %s',
                    b.ticket_id, b.order_id, b.attempts, b.next_attempt_at, left(b.error, 500)),
             jsonb_build_object('ticket_id', b.ticket_id, 'order_id', b.order_id, 'error', b.error,
                                'sqlstate', b.sqlstate, 'attempts', b.attempts, 'next_attempt_at', b.next_attempt_at)))
      into v_count from held b;
  end if;

  return query select cardinality(v_applied), v_completed, v_cancelled, cardinality(v_ids) - cardinality(v_ready),
                      v_bad, v_valid_ends[cardinality(v_ids)], v_ids[cardinality(v_ids)];
end $$;
drop function ticketing.expire_batch(integer, interval, timestamptz, bigint);

-- Two foreign keys checked on every transition, each a lookup per row (bench/expiry.ts measures the
-- ceiling's statement at 0.86x with the first and 0.78x with the second), that guard nothing the state
-- machine does not already: tickets.status -> ticket_statuses (a ticket is inserted usable, the insert
-- guard refuses any other status, and every later status comes from ticketing.transitions, whose own
-- foreign keys keep it to known statuses), and ticket_status_audit.ticket_id -> tickets (audit rows are
-- written only by the state machine, for tickets it holds locked, and tickets are never deleted). Found
-- by what they reference, whatever they are called.
do $$
declare
  r record;
begin
  for r in
    select c.conrelid::regclass as tab, c.conname
      from pg_constraint c
     where c.contype = 'f'
       and ((c.conrelid = 'ticketing.tickets'::regclass and c.confrelid = 'ticketing.ticket_statuses'::regclass)
            or (c.conrelid = 'ticketing.ticket_status_audit'::regclass and c.confrelid = 'ticketing.tickets'::regclass))
  loop
    execute format('alter table %s drop constraint %I', r.tab, r.conname);
  end loop;
end $$;

-- What the sweep has set aside (ticket-lifecycle status, the tickets_quarantined gauge).
create view ticketing.status_quarantine as
  select q.ticket_id, q.order_id, q.attempts, q.sqlstate, q.error, q.quarantined_at, q.last_failed_at,
         q.next_attempt_at
    from ticketing.expiry_quarantine q;

grant select on ticketing.expiry_quarantine, ticketing.status_quarantine to ticketing_reader, ticketing_client;

revoke execute on all functions in schema ticketing from public;
