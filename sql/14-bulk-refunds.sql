-- Event cancellation: bulk refunds. One call records one refund request per ticket and one bulk row that
-- groups them; one job per bulk (task bulk_refund) drains its pending requests in batches, each batch one
-- transaction through the state machine, or, with a refund-processing service, feeds them to the normal
-- per-request jobs at the pace the service may take. A rate and concurrency limit toward refund-processing,
-- held here so every daemon honours the same one.

create table ticketing.bulk_refunds (
  id          bigint generated always as identity primary key,
  event_id    text not null,
  meta        jsonb not null default '{}',
  -- Requests this call recorded (tickets already requested, unknown or terminal are not counted).
  requested   integer not null,
  -- With a refund-processing service: the requests up to this id have been handed to per-request jobs.
  fed_through bigint,
  created_at  timestamptz not null default clock_timestamp(),
  -- Set once no request of the bulk is pending; done and failed are then frozen here.
  finished_at timestamptz,
  done        integer,
  failed      integer
);
create index bulk_refunds_unfinished_idx on ticketing.bulk_refunds (id) where finished_at is null;

alter table ticketing.ticket_requests add column bulk_id bigint references ticketing.bulk_refunds;
-- A bulk's pending requests in id order: the drain's pick, the feed's window and the remaining count.
create index ticket_requests_bulk_pending_idx on ticketing.ticket_requests (bulk_id, id)
  where status = 'pending' and bulk_id is not null;
create index ticket_requests_bulk_failed_idx on ticketing.ticket_requests (bulk_id)
  where status = 'failed' and bulk_id is not null;

-- Why a ticket can or cannot be refunded by a bulk call, read-only (the dry run is this function alone):
--   queued            refundable: a request would be / was recorded
--   duplicate         this event already requested this ticket's refund (request <event_id>:<ticket_id> exists)
--   event_id_in_use   <event_id>:<ticket_id> is the event_id of another kind of request or another ticket
--   unknown           no such ticket
--   already_<status>  the ticket is in a terminal status (ticketing.ticket_statuses.terminal: used, refunded, expired)
-- A ticket being changed is queued: the state machine judges it when the request is processed.
create function ticketing.plan_refunds(ticket_ids bigint[], event_id text)
returns table (ticket_id bigint, outcome text)
language sql stable
security definer
set search_path = ticketing, pg_temp
as $$
  select i.id,
         case when r.id is not null and r.kind = 'refund' and r.ticket_id = i.id then 'duplicate'
              when r.id is not null then 'event_id_in_use'
              when t.id is null then 'unknown'
              when s.terminal then 'already_' || t.status
              else 'queued' end
    from (select distinct u.id from unnest(plan_refunds.ticket_ids) u(id)) i
    left join ticketing.tickets t on t.id = i.id
    left join ticketing.ticket_statuses s on s.status = t.status
    left join ticketing.ticket_requests r on r.event_id = plan_refunds.event_id || ':' || i.id
   order by i.id;
$$;

-- An order id that names no order is one outcome row of its own: (null, 'unknown_order').
create function ticketing.unknown_orders(p_order_ids bigint[])
returns table (ticket_id bigint, outcome text)
language sql stable
set search_path = ticketing, pg_temp
as $$
  select null::bigint, 'unknown_order'
    from (select distinct u.id from unnest(p_order_ids) u(id)) o
   where not exists (select 1 from ticketing.orders x where x.id = o.id);
$$;

-- plan_refunds for every ticket of the orders, and the unknown orders.
create function ticketing.plan_order_refunds(order_ids bigint[], event_id text)
returns table (ticket_id bigint, outcome text)
language sql stable
security definer
set search_path = ticketing, pg_temp
as $$
  select p.ticket_id, p.outcome
    from ticketing.plan_refunds(
           array(select t.id from ticketing.tickets t where t.order_id = any(plan_order_refunds.order_ids)),
           plan_order_refunds.event_id) p
  union all
  select u.ticket_id, u.outcome from ticketing.unknown_orders(plan_order_refunds.order_ids) u;
$$;

-- The arguments every bulk call shares. The request's event_id is <event_id>:<ticket_id>, at most 200
-- characters with a 19-digit id, so the bulk's own is at most 180.
create function ticketing.check_bulk_arguments(p_ids bigint[], p_what text, p_event_id text, p_meta jsonb)
returns void
language sql
set search_path = ticketing, pg_temp
as $$
  select ticketing.check_event_id(p_event_id);
  select ticketing.check_meta(p_meta);
  select case
    when length(p_event_id) > 180 then
      ticketing.invalid_argument(format('event_id is %s characters long; a bulk refund''s limit is 180', length(p_event_id)))
    when p_ids is null or cardinality(p_ids) = 0 then ticketing.invalid_argument(format('%s must be a non-empty array', p_what))
    when cardinality(p_ids) > 100000 then
      ticketing.invalid_argument(format('%s has %s ids; the limit per call is 100000', p_what, cardinality(p_ids)))
    when array_position(p_ids, null) is not null then ticketing.invalid_argument(format('%s contains null', p_what))
  end;
$$;

-- The bulk's one job, in a queue of its own: a second job added while one runs waits for it, so a bulk is
-- drained by one job at a time (with several batches in flight inside it).
create function ticketing.enqueue_bulk_refund_job(p_bulk_id bigint) returns void
language sql
set search_path = ticketing, pg_temp
as $$
  select graphile_worker.add_job('bulk_refund', json_build_object('bulk_id', p_bulk_id),
                                 queue_name => 'bulk_refund:' || p_bulk_id,
                                 job_key => 'bulk_refund:' || p_bulk_id, job_key_mode => 'preserve_run_at');
$$;

-- Records the requests plan_refunds calls queued, with their bulk row and job, in the caller's transaction.
-- Two concurrent calls for the same tickets: the unique event_id makes the second one's 'duplicate'.
create function ticketing.record_bulk_refund(p_ticket_ids bigint[], p_event_id text, p_meta jsonb)
returns table (ticket_id bigint, outcome text)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_ids bigint[];
  v_outcomes text[];
  v_inserted bigint[];
  v_bulk_id bigint;
begin
  select array_agg(p.ticket_id order by p.ticket_id), array_agg(p.outcome order by p.ticket_id)
    into v_ids, v_outcomes
    from ticketing.plan_refunds(p_ticket_ids, p_event_id) p;

  if 'queued' = any(v_outcomes) then
    insert into ticketing.bulk_refunds (event_id, meta, requested) values (p_event_id, p_meta, 0)
    returning id into v_bulk_id;
    with inserted as (
      insert into ticketing.ticket_requests (event_id, kind, ticket_id, meta, bulk_id)
      select p_event_id || ':' || u.id, 'refund', u.id, p_meta, v_bulk_id
        from unnest(v_ids, v_outcomes) u(id, outcome)
       where u.outcome = 'queued'
       order by u.id
      on conflict (event_id) do nothing
      returning ticket_requests.ticket_id
    )
    select array_agg(i.ticket_id) into v_inserted from inserted i;
    if v_inserted is null then
      -- A concurrent call recorded every one of them first: no bulk, no job.
      delete from ticketing.bulk_refunds b where b.id = v_bulk_id;
    else
      update ticketing.bulk_refunds b set requested = cardinality(v_inserted) where b.id = v_bulk_id;
      perform ticketing.enqueue_bulk_refund_job(v_bulk_id);
    end if;
  end if;

  return query
    select u.id, case when u.outcome = 'queued' and i.id is null then 'duplicate' else u.outcome end
      from unnest(v_ids, v_outcomes) u(id, outcome)
      left join unnest(v_inserted) i(id) on i.id = u.id
     order by u.id;
end $$;

-- Client functions (SECURITY DEFINER, granted to ticketing_client).
create function ticketing.request_refunds(ticket_ids bigint[], event_id text, meta jsonb default '{}')
returns table (ticket_id bigint, outcome text)
language plpgsql
security definer
set search_path = ticketing, pg_temp
as $$
begin
  perform ticketing.check_bulk_arguments(request_refunds.ticket_ids, 'ticket_ids', request_refunds.event_id, request_refunds.meta);
  return query select r.ticket_id, r.outcome
                 from ticketing.record_bulk_refund(request_refunds.ticket_ids, request_refunds.event_id, request_refunds.meta) r;
end $$;

create function ticketing.request_order_refunds(order_ids bigint[], event_id text, meta jsonb default '{}')
returns table (ticket_id bigint, outcome text)
language plpgsql
security definer
set search_path = ticketing, pg_temp
as $$
declare
  v_ticket_ids bigint[];
begin
  perform ticketing.check_bulk_arguments(request_order_refunds.order_ids, 'order_ids', request_order_refunds.event_id, request_order_refunds.meta);
  v_ticket_ids := array(select t.id from ticketing.tickets t where t.order_id = any(request_order_refunds.order_ids));
  if cardinality(v_ticket_ids) > 100000 then
    perform ticketing.invalid_argument(format('the orders hold %s tickets; the limit per call is 100000', cardinality(v_ticket_ids)));
  end if;
  return query
    select r.ticket_id, r.outcome
      from ticketing.record_bulk_refund(v_ticket_ids, request_order_refunds.event_id, request_order_refunds.meta) r
    union all
    select u.ticket_id, u.outcome from ticketing.unknown_orders(request_order_refunds.order_ids) u;
end $$;

-- One batch of a bulk under the built-in approve policy: up to p_batch_size of the bulk's pending requests
-- after p_after_id (id order), and their tickets, locked with SKIP LOCKED (never waiting on a client's
-- transaction or on another batch), refunded in one pass through the state machine; each request is then
-- marked succeeded or failed with its own reason in the same transaction. A request whose ticket is held
-- by someone else stays pending for a later batch. last_id: where the next batch resumes (null: none left
-- after p_after_id). A refusal raises one request_rejected alert per bulk, not one per ticket.
create function ticketing.drain_bulk_refund(p_bulk_id bigint, p_batch_size integer, p_after_id bigint default null)
returns table (succeeded integer, failed integer, skipped integer, completed_orders integer, cancelled_orders integer, last_id bigint)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_bulk ticketing.bulk_refunds;
  v_request_ids bigint[];
  v_ticket_ids bigint[];
  v_locked bigint[];
  v_applied_ids bigint[];
  v_outcomes text[];
  v_succeeded integer;
  v_failed integer;
  v_completed integer;
  v_cancelled integer;
begin
  if p_batch_size is null or p_batch_size < 1 or p_batch_size > 10000 then
    perform ticketing.invalid_argument(format('batch_size must be between 1 and 10000 (got %s)', p_batch_size));
  end if;
  select * into v_bulk from ticketing.bulk_refunds b where b.id = p_bulk_id;
  if not found then
    raise exception using errcode = 'TL404', message = format('unknown bulk refund %s', p_bulk_id);
  end if;

  select array_agg(q.id order by q.id), array_agg(q.ticket_id order by q.id)
    into v_request_ids, v_ticket_ids
    from (select r.id, r.ticket_id from ticketing.ticket_requests r
           where r.bulk_id = p_bulk_id and r.status = 'pending' and r.id > coalesce(p_after_id, 0)
             and (r.locked_until is null or r.locked_until < clock_timestamp())
           order by r.id
           limit p_batch_size
             for update skip locked) q;
  if v_request_ids is null then
    return query select 0, 0, 0, 0, 0, null::bigint;
    return;
  end if;
  -- These locks are the ones apply_locked_transitions needs.
  v_locked := array(select t.id from ticketing.tickets t where t.id = any(v_ticket_ids) order by t.id for update skip locked);
  if cardinality(v_locked) = 0 then
    return query select 0, 0, cardinality(v_request_ids), 0, 0, v_request_ids[cardinality(v_request_ids)];
    return;
  end if;
  select array_agg(a.ticket_id), array_agg(a.outcome), coalesce(max(a.completed_orders), 0), coalesce(max(a.cancelled_orders), 0)
    into v_applied_ids, v_outcomes, v_completed, v_cancelled
    from ticketing.apply_locked_transitions(v_locked, 'refunded', v_bulk.event_id, 'ticket.refund.bulk', v_bulk.meta) a;

  -- One request per ticket in a bulk (its event_id is <event_id>:<ticket_id>): the ticket names its request.
  with finished as (
    update ticketing.ticket_requests r
       set status = case when a.outcome in ('applied', 'duplicate') then 'succeeded' else 'failed' end,
           error = case when a.outcome in ('applied', 'duplicate') then null
                        when t.id is null then format('unknown ticket %s', r.ticket_id)
                        else format('state machine refuses %s -> refunded for ticket %s', t.status, t.id) end,
           attempts = r.attempts + 1, locked_until = null,
           updated_at = clock_timestamp(), finished_at = clock_timestamp()
      from unnest(v_request_ids, v_ticket_ids) q(request_id, ticket_id)
      join unnest(v_applied_ids, v_outcomes) a(ticket_id, outcome) on a.ticket_id = q.ticket_id
      left join ticketing.tickets t on t.id = a.ticket_id and a.outcome not in ('applied', 'duplicate')
     where r.id = q.request_id
    returning r.status
  )
  select count(*) filter (where f.status = 'succeeded'), count(*) filter (where f.status = 'failed')
    into v_succeeded, v_failed
    from finished f;

  if v_failed > 0 then
    perform ticketing.raise_alert('bulk_refund_rejected:' || v_bulk.id, 'request_rejected',
      format('bulk refund %s (%s): the state machine refused tickets; see its failed requests', v_bulk.id, v_bulk.event_id),
      jsonb_build_object('bulk_id', v_bulk.id, 'event_id', v_bulk.event_id));
  end if;
  return query select v_succeeded, v_failed, cardinality(v_request_ids) - v_succeeded - v_failed,
                      v_completed, v_cancelled, v_request_ids[cardinality(v_request_ids)];
end $$;

-- With a refund-processing service: hands the bulk's next pending requests to their per-request jobs, so
-- that at most p_window of them are handed over and unfinished at once. Serialised per bulk by its row lock.
-- Returns what was handed over now, what is in flight, and what is still waiting to be handed over.
create function ticketing.feed_bulk_refund(p_bulk_id bigint, p_window integer)
returns table (fed integer, in_flight integer, waiting integer)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_bulk ticketing.bulk_refunds;
  v_in_flight integer;
  v_fed integer := 0;
  v_last bigint;
begin
  if p_window is null or p_window < 1 or p_window > 100000 then
    perform ticketing.invalid_argument(format('window must be between 1 and 100000 (got %s)', p_window));
  end if;
  select * into v_bulk from ticketing.bulk_refunds b where b.id = p_bulk_id for update;
  if not found then
    raise exception using errcode = 'TL404', message = format('unknown bulk refund %s', p_bulk_id);
  end if;
  select count(*) into v_in_flight from ticketing.ticket_requests r
   where r.bulk_id = p_bulk_id and r.status = 'pending' and r.id <= coalesce(v_bulk.fed_through, 0);
  if v_in_flight < p_window then
    select count(*), max(n.id) into v_fed, v_last
      from (select r.id, ticketing.enqueue_request_job(r.kind, r.ticket_id, r.event_id, r.meta)
              from ticketing.ticket_requests r
             where r.bulk_id = p_bulk_id and r.status = 'pending' and r.id > coalesce(v_bulk.fed_through, 0)
             order by r.id
             limit p_window - v_in_flight) n;
    if v_last is not null then
      update ticketing.bulk_refunds b set fed_through = v_last where b.id = p_bulk_id;
    end if;
  end if;
  return query
    select v_fed, v_in_flight + v_fed,
           (select count(*)::integer from ticketing.ticket_requests r
             where r.bulk_id = p_bulk_id and r.status = 'pending' and r.id > coalesce(v_last, v_bulk.fed_through, 0));
end $$;

-- Where every bulk stands. An unfinished bulk is counted from its requests (index reads of its pending and
-- failed ones); a finished one reads the counts frozen when it finished.
create function ticketing.bulk_refund_progress(p_unfinished_only boolean default true)
returns table (bulk_id bigint, event_id text, requested integer, done integer, failed integer, remaining integer,
               created_at timestamptz, finished_at timestamptz)
language sql stable
security definer
set search_path = ticketing, pg_temp
as $$
  select b.id, b.event_id, b.requested,
         coalesce(b.done, b.requested - c.failed - c.remaining), coalesce(b.failed, c.failed), coalesce(c.remaining, 0),
         b.created_at, b.finished_at
    from ticketing.bulk_refunds b
    left join lateral (
      select (select count(*)::integer from ticketing.ticket_requests r where r.bulk_id = b.id and r.status = 'pending') as remaining,
             (select count(*)::integer from ticketing.ticket_requests r where r.bulk_id = b.id and r.status = 'failed') as failed
       where b.finished_at is null
    ) c on true
   where b.finished_at is null or not p_unfinished_only
   order by b.id;
$$;

-- Freezes a bulk's counts once none of its requests is pending. Returns whether it is finished.
create function ticketing.finish_bulk_refund(p_bulk_id bigint) returns boolean
language sql
set search_path = ticketing, pg_temp
as $$
  with progress as (
    select p.* from ticketing.bulk_refund_progress(true) p where p.bulk_id = p_bulk_id
  ), finished as (
    update ticketing.bulk_refunds b
       set finished_at = clock_timestamp(), done = p.done, failed = p.failed
      from progress p
     where b.id = p.bulk_id and p.remaining = 0
    returning b.id
  )
  select exists (select 1 from finished)
      or exists (select 1 from ticketing.bulk_refunds b where b.id = p_bulk_id and b.finished_at is not null);
$$;

-- The refund job (consumer refund_queue), for requests still pending with no live lease, untouched for
-- longer than p_older_than (its old signature is dropped in 11-requests.sql). One whose job is still queued
-- or running is only touched. One whose job is gone (lost to a crash) or dead (out of attempts) gets a fresh
-- job (enqueue_request_job replaces a dead one); after p_max_redrives of those it is failed with an alert.
-- A bulk's request never handed to a per-request job belongs to its bulk job, so it is not enqueued one by
-- one; instead every unfinished bulk older than p_older_than with no live job gets its job again, counted as
-- a refund re-driven. Returns how many of each kind were re-driven and failed.
create function ticketing.redrive_requests(p_older_than interval, p_limit integer default 1000, p_max_redrives integer default 5)
returns table (kind text, redriven bigint, failed bigint)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  s record;
  v_done text[] := '{}';
  v_kinds text[] := '{}';
  v_bulk bigint;
begin
  for s in
    select r.kind, r.ticket_id, r.event_id, r.meta, r.redrives,
           coalesce(j.locked_at is null and j.attempts >= j.max_attempts, true) as job_dead
      from ticketing.ticket_requests r
      left join ticketing.bulk_refunds b on b.id = r.bulk_id
      left join graphile_worker._private_jobs j on j.key = 'request:' || r.event_id
     where r.status = 'pending'
       and (r.locked_until is null or r.locked_until < clock_timestamp())
       and r.updated_at < clock_timestamp() - p_older_than
       and (r.bulk_id is null or r.id <= coalesce(b.fed_through, 0))
     order by r.updated_at
     limit p_limit
     for update of r skip locked
  loop
    if not s.job_dead then
      update ticketing.ticket_requests q set updated_at = clock_timestamp() where q.event_id = s.event_id;
    elsif s.redrives >= p_max_redrives then
      perform ticketing.fail_request(s.event_id, null,
        format('its job died %s times without finishing it; re-driven %s times', s.redrives + 1, s.redrives), true);
      v_done := array_append(v_done, 'failed');
      v_kinds := array_append(v_kinds, s.kind);
    else
      update ticketing.ticket_requests q
         set redrives = q.redrives + 1, updated_at = clock_timestamp()
       where q.event_id = s.event_id;
      perform ticketing.enqueue_request_job(s.kind, s.ticket_id, s.event_id, s.meta);
      v_done := array_append(v_done, 'redriven');
      v_kinds := array_append(v_kinds, s.kind);
    end if;
  end loop;

  for v_bulk in
    select b.id from ticketing.bulk_refunds b
     where b.finished_at is null and b.created_at < clock_timestamp() - p_older_than
       and not exists (select 1 from graphile_worker._private_jobs j
                        where j.key = 'bulk_refund:' || b.id and j.attempts < j.max_attempts)
  loop
    perform ticketing.enqueue_bulk_refund_job(v_bulk);
    v_done := array_append(v_done, 'redriven');
    v_kinds := array_append(v_kinds, 'refund');
  end loop;

  return query select k, count(*) filter (where d = 'redriven'), count(*) filter (where d = 'failed')
                 from unnest(v_kinds, v_done) as u(k, d) group by k;
end $$;

-- The rate and concurrency limit toward a rule service (refund-processing), shared by every daemon: a
-- request may start when the limit's next_start_at has passed and one of its slots is free; starting it
-- moves next_start_at on by 1/rate and leases the slot until the call ends (or the lease runs out, for a
-- daemon that died mid-call). Starts are therefore at least 1/rate apart across all daemons, and at most
-- `concurrency` calls are in flight. Each daemon passes its configured rate and concurrency on every call:
-- give every daemon the same values.
create table ticketing.rate_limits (
  name          text primary key,
  next_start_at timestamptz not null
);
create table ticketing.rate_limit_slots (
  name        text not null references ticketing.rate_limits,
  slot        integer not null,
  holder      text,
  lease_until timestamptz,
  primary key (name, slot)
);

-- Takes a start and a slot, or says how long to wait before asking again. p_rate null: no rate limit;
-- p_concurrency null: no concurrency limit (slot returned is 0).
create function ticketing.acquire_rate_slot(p_name text, p_rate double precision, p_concurrency integer,
                                            p_holder text, p_lease interval)
returns table (slot integer, wait_ms integer)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_next timestamptz;
  v_now timestamptz;
  v_slot integer := 0;
begin
  if p_rate is not null and (p_rate <= 0 or p_rate > 100000) then
    perform ticketing.invalid_argument(format('rate must be above 0 and at most 100000 per second (got %s)', p_rate));
  end if;
  if p_concurrency is not null and (p_concurrency < 1 or p_concurrency > 10000) then
    perform ticketing.invalid_argument(format('concurrency must be between 1 and 10000 (got %s)', p_concurrency));
  end if;
  insert into ticketing.rate_limits (name, next_start_at) values (p_name, '-infinity') on conflict (name) do nothing;
  -- The row lock serialises every start of this limit, across daemons.
  select l.next_start_at into v_next from ticketing.rate_limits l where l.name = p_name for update;
  v_now := clock_timestamp();
  if p_rate is not null and v_next > v_now then
    return query select null::integer, greatest(1, ceil(extract(epoch from v_next - v_now) * 1000))::integer;
    return;
  end if;
  if p_concurrency is not null then
    insert into ticketing.rate_limit_slots (name, slot)
    select p_name, g from generate_series(1, p_concurrency) g
    on conflict do nothing;
    select s.slot into v_slot from ticketing.rate_limit_slots s
     where s.name = p_name and s.slot <= p_concurrency and (s.lease_until is null or s.lease_until < v_now)
     order by s.slot limit 1;
    if not found then
      -- Every slot is busy: ask again soon (a slot is given back when a call ends).
      return query select null::integer, 10;
      return;
    end if;
    update ticketing.rate_limit_slots s set holder = p_holder, lease_until = v_now + p_lease
     where s.name = p_name and s.slot = v_slot;
  end if;
  if p_rate is not null then
    update ticketing.rate_limits l set next_start_at = v_now + make_interval(secs => 1 / p_rate) where l.name = p_name;
  end if;
  return query select v_slot, 0;
end $$;

create function ticketing.release_rate_slot(p_name text, p_slot integer, p_holder text) returns void
language sql
set search_path = ticketing, pg_temp
as $$
  update ticketing.rate_limit_slots s set holder = null, lease_until = null
   where s.name = p_name and s.slot = p_slot and s.holder = p_holder;
$$;

revoke execute on all functions in schema ticketing from public;
grant execute on function
  ticketing.request_refunds(bigint[], text, jsonb),
  ticketing.request_order_refunds(bigint[], text, jsonb),
  ticketing.plan_refunds(bigint[], text),
  ticketing.plan_order_refunds(bigint[], text),
  ticketing.bulk_refund_progress(boolean)
  to ticketing_client;
grant execute on function
  ticketing.plan_refunds(bigint[], text),
  ticketing.plan_order_refunds(bigint[], text),
  ticketing.bulk_refund_progress(boolean)
  to ticketing_reader;
