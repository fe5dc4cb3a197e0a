
CREATE SCHEMA ticketing;

ALTER SCHEMA ticketing OWNER TO ticketing_schema_owner;

CREATE TYPE ticketing.outbox_delivery AS (
	id bigint,
	event_id text,
	type text,
	ticket_id bigint,
	order_id bigint,
	attempts integer,
	message text
);

ALTER TYPE ticketing.outbox_delivery OWNER TO ticketing_schema_owner;

CREATE FUNCTION ticketing.acquire_rate_slot(p_name text, p_rate double precision, p_concurrency integer, p_holder text, p_lease interval) RETURNS TABLE(slot integer, wait_ms integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.acquire_rate_slot(p_name text, p_rate double precision, p_concurrency integer, p_holder text, p_lease interval) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.active_alert_counts() RETURNS TABLE(kind text, active integer)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select k.kind, count(a.id)::integer
    from ticketing.alert_kinds k
    left join ticketing.alerts a on a.kind = k.kind and a.cleared_at is null
   group by k.kind
   order by k.kind;
$$;

ALTER FUNCTION ticketing.active_alert_counts() OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.apply_decision(p_event_id text, p_token uuid, p_target_status text, p_valid_end timestamp with time zone, p_meta jsonb) RETURNS TABLE(outcome text, completed_orders integer, cancelled_orders integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.apply_decision(p_event_id text, p_token uuid, p_target_status text, p_valid_end timestamp with time zone, p_meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.apply_locked_transitions(p_ticket_ids bigint[], p_new_status text, p_event_id text, p_event text, p_meta jsonb) RETURNS TABLE(ticket_id bigint, outcome text, completed_orders integer, cancelled_orders integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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

ALTER FUNCTION ticketing.apply_locked_transitions(p_ticket_ids bigint[], p_new_status text, p_event_id text, p_event text, p_meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.apply_transitions(p_ticket_ids bigint[], p_new_status text, p_event_id text, p_event text, p_meta jsonb) RETURNS TABLE(ticket_id bigint, outcome text, completed_orders integer, cancelled_orders integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
begin
  perform 1 from ticketing.tickets t where t.id = any(p_ticket_ids) order by t.id for update;
  return query select * from ticketing.apply_locked_transitions(p_ticket_ids, p_new_status, p_event_id, p_event, p_meta);
end $$;

ALTER FUNCTION ticketing.apply_transitions(p_ticket_ids bigint[], p_new_status text, p_event_id text, p_event text, p_meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.approve_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) RETURNS TABLE(outcome text, target_status text, completed_orders integer, cancelled_orders integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.approve_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.begin_request(p_event_id text, p_token uuid) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.begin_request(p_event_id text, p_token uuid) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.bulk_of_request(p_event_id text, p_ticket_id bigint) RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select r.bulk_id from ticketing.ticket_requests r where r.event_id = p_event_id || ':' || p_ticket_id
$$;

ALTER FUNCTION ticketing.bulk_of_request(p_event_id text, p_ticket_id bigint) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.bulk_refund_progress(p_unfinished_only boolean DEFAULT true) RETURNS TABLE(bulk_id bigint, event_id text, requested integer, done integer, failed integer, remaining integer, created_at timestamp with time zone, finished_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.bulk_refund_progress(p_unfinished_only boolean) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.check_bulk_arguments(p_ids bigint[], p_what text, p_event_id text, p_meta jsonb) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.check_bulk_arguments(p_ids bigint[], p_what text, p_event_id text, p_meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.check_change_meta(p_meta jsonb) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
declare
  v_problem text := ticketing.valid_end_problem(p_meta);
begin
  if v_problem is not null then
    perform ticketing.invalid_argument(v_problem);
  end if;
end $$;

ALTER FUNCTION ticketing.check_change_meta(p_meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.check_event_id(p_event_id text) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select ticketing.invalid_argument(problem) from ticketing.event_id_problem(p_event_id) problem where problem is not null;
$$;

ALTER FUNCTION ticketing.check_event_id(p_event_id text) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.check_meta(p_meta jsonb) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select ticketing.invalid_argument(problem) from ticketing.meta_problem(p_meta) problem where problem is not null;
$$;

ALTER FUNCTION ticketing.check_meta(p_meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.claim_outbox(p_limit integer, p_source text, p_backoff_base_ms double precision, p_backoff_max_ms double precision) RETURNS SETOF ticketing.outbox_delivery
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    SET enable_sort TO 'off'
    SET enable_incremental_sort TO 'off'
    SET jit TO 'off'
    AS $$
begin
  return query
  with due as (
    select o.id, o.event_id, o.type, o.ticket_id, o.order_id, o.seq, o.payload, o.created_at, o.attempts
      from ticketing.outbox o
     where o.published_at is null and o.next_attempt_at <= now()
       and (o.ticket_id is null
            or (select e.id from ticketing.outbox e
                 where e.ticket_id = o.ticket_id and e.published_at is null and e.id < o.id
                   and e.next_attempt_at > o.next_attempt_at
                 order by e.ticket_id, e.id
                 limit 1) is null)
     order by o.next_attempt_at, o.id
     limit p_limit
     for update skip locked
  ), ranked as (
    select d.*, row_number() over (partition by d.ticket_id order by d.id) - 1 as claimed_before
      from due d
  )
  select d.id, d.event_id, d.type, d.ticket_id, d.order_id, d.attempts,
         ticketing.outbox_cloudevent(d.event_id, d.type, d.ticket_id, d.order_id, d.seq, d.payload, d.created_at, p_source)
    from ranked d
   where d.ticket_id is null
      or (select e.id from ticketing.outbox e
           where e.ticket_id = d.ticket_id and e.published_at is null
           order by e.ticket_id, e.id
           offset d.claimed_before limit 1) = d.id
   order by d.id;
end $$;

ALTER FUNCTION ticketing.claim_outbox(p_limit integer, p_source text, p_backoff_base_ms double precision, p_backoff_max_ms double precision) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.claim_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb, p_lease interval) RETURNS TABLE(outcome text, status text, attempts integer, meta jsonb, lease_token uuid)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.claim_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb, p_lease interval) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.clear_alert(p_key text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.clear_alert(p_key text) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.delete_failed_jobs(p_older_than interval, p_limit integer) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select count(*)
    from graphile_worker.complete_jobs(array(
           select j.id from ticketing.worker_jobs j
            where j.attempts >= j.max_attempts and j.locked_at is null and j.updated_at < now() - p_older_than
            limit p_limit));
$$;

ALTER FUNCTION ticketing.delete_failed_jobs(p_older_than interval, p_limit integer) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.describe_refusal(p_ticket_id bigint, p_target text) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select coalesce(
    (select format('state machine refuses %s -> %s for ticket %s', t.status, p_target, t.id)
       from ticketing.tickets t where t.id = p_ticket_id),
    format('unknown ticket %s', p_ticket_id));
$$;

ALTER FUNCTION ticketing.describe_refusal(p_ticket_id bigint, p_target text) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.discard_failed_jobs(p_job_ids bigint[], p_dry_run boolean DEFAULT false) RETURNS TABLE(id bigint, task text, attempts smallint, last_error text)
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$ select * from ticketing.settle_failed_jobs(p_job_ids, true, p_dry_run); $$;

ALTER FUNCTION ticketing.discard_failed_jobs(p_job_ids bigint[], p_dry_run boolean) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.drain_bulk_refund(p_bulk_id bigint, p_batch_size integer, p_after_id bigint DEFAULT NULL::bigint) RETURNS TABLE(succeeded integer, failed integer, skipped integer, completed_orders integer, cancelled_orders integer, last_id bigint)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.drain_bulk_refund(p_bulk_id bigint, p_batch_size integer, p_after_id bigint) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.enqueue_bulk_refund_job(p_bulk_id bigint) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select graphile_worker.add_job('bulk_refund', json_build_object('bulk_id', p_bulk_id),
                                 queue_name => 'bulk_refund:' || p_bulk_id,
                                 job_key => 'bulk_refund:' || p_bulk_id, job_key_mode => 'preserve_run_at');
$$;

ALTER FUNCTION ticketing.enqueue_bulk_refund_job(p_bulk_id bigint) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.enqueue_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.enqueue_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.enqueue_request_job(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
declare
  v_task text := (select k.task_identifier from ticketing.request_kinds k where k.kind = p_kind);
begin
  if v_task is null then
    perform ticketing.invalid_argument(format('unknown request kind %L', p_kind));
  end if;
  perform graphile_worker.remove_job(j.key)
     from ticketing.worker_jobs j
    where j.key = 'request:' || p_event_id and j.locked_at is null and j.attempts >= j.max_attempts;
  perform graphile_worker.add_job(v_task,
                                  json_build_object('ticket_id', p_ticket_id, 'event_id', p_event_id, 'meta', p_meta),
                                  job_key => 'request:' || p_event_id, job_key_mode => 'unsafe_dedupe');
end $$;

ALTER FUNCTION ticketing.enqueue_request_job(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.event_id_problem(p_event_id text) RETURNS text
    LANGUAGE sql IMMUTABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select case
    when p_event_id is null or length(p_event_id) = 0 then 'event_id is required'
    when length(p_event_id) > 200 then format('event_id is %s characters long; the limit is 200', length(p_event_id))
  end;
$$;

ALTER FUNCTION ticketing.event_id_problem(p_event_id text) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.expire_batch(p_batch_size integer, p_grace interval DEFAULT '00:00:00'::interval, p_after_valid_end timestamp with time zone DEFAULT NULL::timestamp with time zone, p_after_id bigint DEFAULT NULL::bigint, p_retry_after interval DEFAULT '00:01:00'::interval) RETURNS TABLE(expired integer, completed_orders integer, cancelled_orders integer, skipped integer, quarantined bigint[], last_valid_end timestamp with time zone, last_id bigint)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.expire_batch(p_batch_size integer, p_grace interval, p_after_valid_end timestamp with time zone, p_after_id bigint, p_retry_after interval) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.expiry_backlog(p_grace interval DEFAULT '00:00:00'::interval) RETURNS TABLE(tickets bigint, oldest_valid_end timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select count(*), min(valid_end) from ticketing.tickets
   where status = 'usable' and valid_end < now() - coalesce(p_grace, '0 seconds');
$$;

ALTER FUNCTION ticketing.expiry_backlog(p_grace interval) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.expiry_lag_seconds() RETURNS double precision
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select coalesce(extract(epoch from now() - min(t.valid_end))::float8, 0)
    from ticketing.tickets t
   where t.status = 'usable' and t.valid_end < now();
$$;

ALTER FUNCTION ticketing.expiry_lag_seconds() OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.fail_invalid_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.fail_invalid_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.fail_request(p_event_id text, p_token uuid, p_reason text, p_alert boolean DEFAULT false) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
declare
  r ticketing.ticket_requests;
begin
  update ticketing.ticket_requests q
     set status = 'failed', error = left(p_reason, 2000), locked_until = null, lease_token = null,
         updated_at = clock_timestamp(), finished_at = clock_timestamp()
   where q.event_id = p_event_id and q.status = 'pending'
     and (q.lease_token = p_token or (p_token is null and (q.locked_until is null or q.locked_until < clock_timestamp())))
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

ALTER FUNCTION ticketing.fail_request(p_event_id text, p_token uuid, p_reason text, p_alert boolean) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.feed_bulk_refund(p_bulk_id bigint, p_window integer) RETURNS TABLE(fed integer, in_flight integer, waiting integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.feed_bulk_refund(p_bulk_id bigint, p_window integer) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.finish_bulk_refund(p_bulk_id bigint) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.finish_bulk_refund(p_bulk_id bigint) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.give_up_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb, p_reason text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
declare
  v_claim record;
begin
  select c.outcome, c.lease_token into v_claim
    from ticketing.claim_request(p_kind, p_ticket_id, p_event_id, p_meta, interval '1 minute') c;
  if v_claim.outcome <> 'claimed' then
    return v_claim.outcome;
  end if;
  perform ticketing.fail_request(p_event_id, v_claim.lease_token, p_reason, true);
  return 'failed';
end $$;

ALTER FUNCTION ticketing.give_up_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb, p_reason text) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.guard_order_delete() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
begin
  if exists (select 1 from ticketing.tickets t where t.order_id = old.id) then
    raise exception using errcode = 'TL403',
      message = format('order %s has tickets: only an order without tickets is deleted', old.id);
  end if;
  return old;
end $$;

ALTER FUNCTION ticketing.guard_order_delete() OWNER TO ticketing_schema_owner;

CREATE FUNCTION ticketing.guard_ticket_order() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
declare
  v_ticket bigint;
  v_order bigint;
  v_status text;
begin
  select i.id, o.id, o.status into v_ticket, v_order, v_status
    from inserted i join ticketing.orders o on o.id = i.order_id
   where o.status <> 'open'
   limit 1;
  if found then
    raise exception using errcode = 'TL403',
      message = format('ticket %s: order %s is %s; tickets are added to open orders only', v_ticket, v_order, v_status);
  end if;
  return null;
end $$;

ALTER FUNCTION ticketing.guard_ticket_order() OWNER TO ticketing_schema_owner;

CREATE FUNCTION ticketing.guard_ticket_status() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
begin
  if (new.id, new.order_id, new.status, new.seq, new.created_at)
     is distinct from (old.id, old.order_id, old.status, old.seq, old.created_at) then
    raise exception using errcode = 'TL403',
      message = format('ticket %s: status, seq and order_id change only through the state machine (attempted status %s -> %s, seq %s -> %s, order %s -> %s)',
                       old.id, old.status, new.status, old.seq, new.seq, old.order_id, new.order_id),
      hint = 'call ticketing.transition_ticket(ticket_id, new_status, event_id)';
  end if;
  if new.valid_end is distinct from old.valid_end
     and (select s.terminal from ticketing.ticket_statuses s where s.status = old.status) then
    raise exception using errcode = 'TL403',
      message = format('ticket %s is %s, a final status: its valid_end no longer changes', old.id, old.status);
  end if;
  return new;
end $$;

ALTER FUNCTION ticketing.guard_ticket_status() OWNER TO ticketing_schema_owner;

CREATE FUNCTION ticketing.harden() RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
declare
  v_fn record;
  v_table record;
  v_grant record;
  v_worker_table regclass;
begin
  -- Two migrations at once (two daemons starting) must not alter the same catalog rows together.
  perform pg_advisory_xact_lock(hashtext('ticketing.harden'));

  for v_fn in
    select p.oid::regprocedure as fn, p.proowner, p.prosecdef,
           exists (select 1 from unnest(p.proconfig) c where c like 'search\_path=%') as pinned
      from pg_proc p
     where p.pronamespace = 'ticketing'::regnamespace and p.prokind in ('f', 'p')
       and p.prorettype <> 'trigger'::regtype and p.oid <> 'ticketing.harden()'::regprocedure
  loop
    if v_fn.proowner <> 'ticketing_engine'::regrole then
      execute format('alter routine %s owner to ticketing_engine', v_fn.fn);
    end if;
    if not v_fn.prosecdef then
      execute format('alter routine %s security definer', v_fn.fn);
    end if;
    if not v_fn.pinned then
      execute format('alter routine %s set search_path = ticketing, pg_temp', v_fn.fn);
    end if;
    execute format('revoke execute on routine %s from public', v_fn.fn);
    execute format('grant execute on routine %s to ticketing_daemon', v_fn.fn);
  end loop;

  for v_table in
    select c.oid::regclass as rel, c.relname,
           array(select t.tgname::text from pg_trigger t where t.tgrelid = c.oid) as triggers
      from pg_class c
     where c.relnamespace = 'ticketing'::regnamespace and c.relkind in ('r', 'p')
  loop
    if not 'guard_truncate' = any(v_table.triggers) then
      execute format('create trigger guard_truncate before truncate on %s for each statement
                      execute function ticketing.refuse_write(%L)', v_table.rel, 'TRUNCATE is refused on every ticketing table');
    end if;
    if not 'guard_foreign_triggers' = any(v_table.triggers) then
      execute format('create trigger guard_foreign_triggers before insert or update or delete on %s for each statement
                      when (current_user = ''ticketing_engine'') execute function ticketing.refuse_foreign_triggers()', v_table.rel);
    end if;
    if v_table.relname not in ('tickets', 'orders') and not 'guard_writes' = any(v_table.triggers) then
      execute format('create trigger guard_writes before insert or update or delete on %s for each statement
                      when (current_user <> ''ticketing_engine'') execute function ticketing.refuse_write(%L)',
                     v_table.rel, 'only ticketing functions write this table');
    end if;
    for v_grant in
      select distinct a.grantee
        from pg_class c, aclexplode(c.relacl) a
       where c.oid = v_table.rel and a.privilege_type in ('TRIGGER', 'REFERENCES') and a.grantee <> c.relowner
    loop
      execute format('revoke trigger, references on %s from %s cascade', v_table.rel,
                     case when v_grant.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(v_grant.grantee)) end);
    end loop;
  end loop;

  grant usage on schema graphile_worker to ticketing_engine, ticketing_daemon, ticketing_enqueuer;
  grant execute on all functions in schema graphile_worker to ticketing_engine, ticketing_daemon;
  grant usage, select on all sequences in schema graphile_worker to ticketing_engine, ticketing_daemon, ticketing_enqueuer;
  grant select, insert, update, delete on graphile_worker._private_jobs, graphile_worker._private_job_queues,
        graphile_worker._private_tasks to ticketing_engine, ticketing_daemon;
  grant select, insert, update, delete on graphile_worker._private_known_crontabs to ticketing_daemon;
  grant select on graphile_worker.migrations to ticketing_daemon;
  -- TRIGGER on graphile_worker's tables is as good as the engine's rights (see refuse_foreign_triggers), and
  -- TRUNCATE there would wipe every queued job past row level security: only the owner keeps them.
  for v_grant in
    select distinct c.oid::regclass as rel, a.grantee
      from pg_class c, aclexplode(c.relacl) a
     where c.relnamespace = 'graphile_worker'::regnamespace and c.relkind in ('r', 'p')
       and a.privilege_type in ('TRIGGER', 'REFERENCES', 'TRUNCATE') and a.grantee <> c.relowner
  loop
    execute format('revoke trigger, references, truncate on %s from %s cascade', v_grant.rel,
                   case when v_grant.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(v_grant.grantee)) end);
  end loop;
  -- graphile-worker enables row level security on its tables with no policy: only their owner sees a row.
  foreach v_worker_table in array array['graphile_worker._private_jobs', 'graphile_worker._private_job_queues',
                                         'graphile_worker._private_tasks', 'graphile_worker._private_known_crontabs']::regclass[] loop
    if not exists (select 1 from pg_policy p where p.polrelid = v_worker_table and p.polname = 'ticketing_roles') then
      execute format('create policy ticketing_roles on %s to ticketing_engine, ticketing_daemon, ticketing_enqueuer
                      using (true) with check (true)', v_worker_table);
    end if;
  end loop;
  -- graphile_worker.add_job runs with its caller's rights: these are what it touches.
  grant execute on function graphile_worker.add_job(text, json, text, timestamptz, integer, text, integer, text[], text),
        graphile_worker.add_jobs(graphile_worker.job_spec[], boolean) to ticketing_enqueuer;
  grant select, insert, update on graphile_worker._private_jobs, graphile_worker._private_job_queues,
        graphile_worker._private_tasks to ticketing_enqueuer;
end $$;

ALTER FUNCTION ticketing.harden() OWNER TO ticketing_schema_owner;

CREATE FUNCTION ticketing.invalid_argument(p_message text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
begin
  raise exception using errcode = 'TL422', message = p_message;
end $$;

ALTER FUNCTION ticketing.invalid_argument(p_message text) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.latest_operator_actions(p_limit integer) RETURNS TABLE(id bigint, actor text, acted_at timestamp with time zone, action text, parameters jsonb, affected integer)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select latest.* from (
    select a.id, a.actor, a.acted_at, a.action, a.parameters, a.affected
      from ticketing.operator_actions a order by a.id desc limit p_limit
  ) latest
  order by latest.id
$$;

ALTER FUNCTION ticketing.latest_operator_actions(p_limit integer) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.live_daemons(p_seen_within interval DEFAULT '00:00:30'::interval) RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select count(*)::integer from ticketing.daemon_heartbeats h where h.last_seen_at >= clock_timestamp() - p_seen_within;
$$;

ALTER FUNCTION ticketing.live_daemons(p_seen_within interval) OWNER TO ticketing_engine;

CREATE TABLE ticketing.ticket_requests (
    id bigint NOT NULL,
    event_id text NOT NULL,
    kind text NOT NULL,
    ticket_id bigint NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    meta jsonb DEFAULT '{}'::jsonb NOT NULL,
    error text,
    attempts integer DEFAULT 0 NOT NULL,
    locked_until timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    lease_token uuid,
    redrives integer DEFAULT 0 NOT NULL,
    bulk_id bigint
);

ALTER TABLE ticketing.ticket_requests OWNER TO ticketing_schema_owner;

COMMENT ON COLUMN ticketing.ticket_requests.attempts IS 'leases taken on the service path (the built-in policy decides under the row lock and takes none)';

COMMENT ON COLUMN ticketing.ticket_requests.lease_token IS 'the live lease''s token (claim_request), null when not leased';

COMMENT ON COLUMN ticketing.ticket_requests.redrives IS 'fresh jobs the re-drive started for this request after its job was lost or died';

CREATE FUNCTION ticketing.lock_leased_request(p_event_id text, p_token uuid) RETURNS ticketing.ticket_requests
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
declare
  r ticketing.ticket_requests;
begin
  select * into r from ticketing.ticket_requests q where q.event_id = p_event_id for update;
  if not found or r.status <> 'pending' then
    return null;
  end if;
  if r.lease_token = p_token or (p_token is null and (r.locked_until is null or r.locked_until < clock_timestamp())) then
    return r;
  end if;
  return null;
end $$;

ALTER FUNCTION ticketing.lock_leased_request(p_event_id text, p_token uuid) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.lock_worker_jobs(p_job_ids bigint[]) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select null from graphile_worker._private_jobs j where j.id = any(p_job_ids) order by j.id for update;
$$;

ALTER FUNCTION ticketing.lock_worker_jobs(p_job_ids bigint[]) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.meta_problem(p_meta jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select case
    when p_meta is null or jsonb_typeof(p_meta) <> 'object' then 'meta must be a JSON object'
    when octet_length(p_meta::text) > 16384 then format('meta is %s bytes; the limit is 16384', octet_length(p_meta::text))
  end;
$$;

ALTER FUNCTION ticketing.meta_problem(p_meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.ms_until_next_outbox_attempt() RETURNS double precision
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select (extract(epoch from min(o.next_attempt_at) - clock_timestamp()) * 1000)::float8
    from ticketing.outbox o
   where o.published_at is null and o.next_attempt_at > now()
$$;

ALTER FUNCTION ticketing.ms_until_next_outbox_attempt() OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.notify_outbox() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
  perform pg_notify('ticketing_outbox', '');
  return null;
end $$;

ALTER FUNCTION ticketing.notify_outbox() OWNER TO ticketing_schema_owner;

CREATE FUNCTION ticketing.oldest_pending_request_seconds() RETURNS double precision
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select coalesce(extract(epoch from now() - min(r.created_at))::float8, 0)
    from ticketing.ticket_requests r
   where r.status = 'pending';
$$;

ALTER FUNCTION ticketing.oldest_pending_request_seconds() OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.order_progress(p_order_id bigint) RETURNS TABLE(status text, open_tickets bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select o.status,
         (select count(*) from ticketing.tickets t join ticketing.ticket_statuses s on s.status = t.status
           where t.order_id = o.id and not s.terminal)
    from ticketing.orders o
   where o.id = p_order_id
$$;

ALTER FUNCTION ticketing.order_progress(p_order_id bigint) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.outbox_backlog(OUT undelivered bigint, OUT oldest_age_seconds double precision) RETURNS record
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select count(*), greatest(0, extract(epoch from clock_timestamp() - min(o.created_at))::float8)
    from ticketing.outbox o
   where o.published_at is null
$$;

ALTER FUNCTION ticketing.outbox_backlog(OUT undelivered bigint, OUT oldest_age_seconds double precision) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.outbox_cloudevent(p_event_id text, p_type text, p_ticket_id bigint, p_order_id bigint, p_seq bigint, p_payload jsonb, p_created_at timestamp with time zone, p_source text, p_with_data boolean DEFAULT true) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select '{"specversion":"1.0","id":' || to_json(p_event_id) || ',"source":' || to_json(p_source)
         || ',"type":' || to_json(p_type)
         -- to_char gives null for an infinite timestamp (no API writes one): then no time, still an event.
         || coalesce(',"time":"' || to_char(p_created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '"', '')
         || coalesce(',"subject":' || to_json(case when p_ticket_id is not null then 'ticket/' || p_ticket_id
                                                   when p_order_id is not null then 'order/' || p_order_id
                                                   when p_payload ? 'alert_id' then 'alert/' || (p_payload ->> 'alert_id') end), '')
         || coalesce(',"sequence":"' || lpad(p_seq::text, 19, '0') || '"', '')
         || case when p_with_data then ',"datacontenttype":"application/json","data":' || p_payload::text
                 else ',"dataomitted":true' end
         || '}';
$$;

ALTER FUNCTION ticketing.outbox_cloudevent(p_event_id text, p_type text, p_ticket_id bigint, p_order_id bigint, p_seq bigint, p_payload jsonb, p_created_at timestamp with time zone, p_source text, p_with_data boolean) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.outbox_notification(p_id bigint, p_message text, p_source text) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select case when octet_length(p_message) < 8000 then p_message
              else (select ticketing.outbox_cloudevent(o.event_id, o.type, o.ticket_id, o.order_id, o.seq, o.payload,
                                                       o.created_at, p_source, false)
                      from ticketing.outbox o where o.id = p_id) end;
$$;

ALTER FUNCTION ticketing.outbox_notification(p_id bigint, p_message text, p_source text) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.outbox_retry_delay(p_attempts integer, p_base_ms double precision, p_max_ms double precision) RETURNS interval
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select least(p_max_ms, p_base_ms * 2 ^ least(greatest(p_attempts - 1, 0), 40)) * (0.5 + random() / 2)
         * interval '1 millisecond';
$$;

ALTER FUNCTION ticketing.outbox_retry_delay(p_attempts integer, p_base_ms double precision, p_max_ms double precision) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.plan_order_refunds(order_ids bigint[], event_id text) RETURNS TABLE(ticket_id bigint, outcome text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select p.ticket_id, p.outcome
    from ticketing.plan_refunds(
           array(select t.id from ticketing.tickets t where t.order_id = any(plan_order_refunds.order_ids)),
           plan_order_refunds.event_id) p
  union all
  select u.ticket_id, u.outcome from ticketing.unknown_orders(plan_order_refunds.order_ids) u;
$$;

ALTER FUNCTION ticketing.plan_order_refunds(order_ids bigint[], event_id text) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.plan_refunds(ticket_ids bigint[], event_id text) RETURNS TABLE(ticket_id bigint, outcome text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.plan_refunds(ticket_ids bigint[], event_id text) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.prune_outbox(p_retention_hours integer, p_chunk integer) RETURNS integer
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select case when p_retention_hours is null or p_retention_hours < 1 or p_chunk is null or p_chunk < 1
              then ticketing.invalid_argument('prune_outbox: retention hours and chunk must be at least 1') end;
  with pruned as (
    delete from ticketing.outbox where id in (
      select id from ticketing.outbox
       where published_at < now() - make_interval(hours => p_retention_hours)
       order by published_at
       limit p_chunk)
    returning 1
  )
  select count(*)::integer from pruned;
$$;

ALTER FUNCTION ticketing.prune_outbox(p_retention_hours integer, p_chunk integer) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.publish_outbox_by_notify(p_limit integer, p_source text, p_backoff_base_ms double precision, p_backoff_max_ms double precision) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
declare
  v_claimed ticketing.outbox_delivery[];
  v_event ticketing.outbox_delivery;
  v_published bigint[] := '{}';
  v_held bigint[] := '{}';
begin
  select array_agg(c order by c.id) into v_claimed from ticketing.claim_outbox(p_limit, p_source, p_backoff_base_ms, p_backoff_max_ms) c;
  if v_claimed is null then
    return 0;
  end if;
  -- One statement for the round; only if it fails is each event sent on its own, to find the offender.
  begin
    perform pg_notify('ticketing_events', ticketing.outbox_notification(c.id, c.message, p_source)) from unnest(v_claimed) c;
    select array_agg(c.id) into v_published from unnest(v_claimed) c;
  exception when others then
    foreach v_event in array v_claimed loop
      continue when v_event.ticket_id = any(v_held);
      begin
        perform pg_notify('ticketing_events', ticketing.outbox_notification(v_event.id, v_event.message, p_source));
        v_published := v_published || v_event.id;
      exception when others then
        perform ticketing.set_aside_outbox_event(v_event.id, format('pg_notify refused it: %s', sqlerrm),
                                                 p_backoff_base_ms, p_backoff_max_ms);
        if v_event.ticket_id is not null then
          v_held := v_held || v_event.ticket_id;
        end if;
      end;
    end loop;
  end;
  perform ticketing.record_outbox_outcomes(v_published, '{}', '{}', '{}', '{}', p_backoff_base_ms, p_backoff_max_ms);
  return cardinality(v_published);
end $$;

ALTER FUNCTION ticketing.publish_outbox_by_notify(p_limit integer, p_source text, p_backoff_base_ms double precision, p_backoff_max_ms double precision) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.queue_sweep(p_batch_size integer DEFAULT NULL::integer) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select j.id
    from ticketing.sweep_job() s,
         graphile_worker.add_job(s.task_identifier, json_build_object('batch_size', coalesce(p_batch_size, s.batch_size)),
                                 queue_name => s.queue_name, job_key => s.job_key, job_key_mode => s.job_key_mode,
                                 max_attempts => s.max_attempts) j;
$$;

ALTER FUNCTION ticketing.queue_sweep(p_batch_size integer) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.raise_alert(p_key text, p_kind text, p_message text, p_details jsonb DEFAULT '{}'::jsonb) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.raise_alert(p_key text, p_kind text, p_message text, p_details jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.recompute_orders(p_order_ids bigint[]) RETURNS TABLE(completed integer, cancelled integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.recompute_orders(p_order_ids bigint[]) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.record_bad_request(p_kind text, p_ticket_id bigint, p_event_id text, p_reason text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
begin
  insert into ticketing.ticket_requests (event_id, kind, ticket_id, status, error, finished_at)
  values (p_event_id, p_kind, p_ticket_id, 'failed', left(p_reason, 2000), clock_timestamp())
  on conflict (event_id) do nothing;
  return found;
exception when program_limit_exceeded then
  return false;
end $$;

ALTER FUNCTION ticketing.record_bad_request(p_kind text, p_ticket_id bigint, p_event_id text, p_reason text) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.record_bulk_refund(p_ticket_ids bigint[], p_event_id text, p_meta jsonb) RETURNS TABLE(ticket_id bigint, outcome text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.record_bulk_refund(p_ticket_ids bigint[], p_event_id text, p_meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.record_heartbeat(p_daemon_id text, p_pid integer, p_host text, p_started_at timestamp with time zone, p_worker_ids text[], p_active_job_ids bigint[]) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  insert into ticketing.daemon_heartbeats (daemon_id, pid, host, started_at, last_seen_at, worker_ids, active_job_ids)
  values (p_daemon_id, p_pid, p_host, p_started_at, clock_timestamp(), coalesce(p_worker_ids, '{}'), coalesce(p_active_job_ids, '{}'))
  on conflict (daemon_id) do update
     set last_seen_at = clock_timestamp(), worker_ids = excluded.worker_ids, active_job_ids = excluded.active_job_ids;
$$;

ALTER FUNCTION ticketing.record_heartbeat(p_daemon_id text, p_pid integer, p_host text, p_started_at timestamp with time zone, p_worker_ids text[], p_active_job_ids bigint[]) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.record_job_result(p_task text, p_ok boolean, p_error text DEFAULT NULL::text, p_threshold integer DEFAULT 3) RETURNS TABLE(consecutive_failures integer, alert_raised boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.record_job_result(p_task text, p_ok boolean, p_error text, p_threshold integer) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.record_operator_action(p_action text, p_parameters jsonb, p_affected integer) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  insert into ticketing.operator_actions (actor, action, parameters, affected)
  values (session_user, p_action, jsonb_strip_nulls(p_parameters), p_affected)
  returning id;
$$;

ALTER FUNCTION ticketing.record_operator_action(p_action text, p_parameters jsonb, p_affected integer) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.record_outbox_outcomes(p_delivered bigint[], p_failed bigint[], p_errors text[], p_not_before_ms double precision[], p_kinds text[], p_backoff_base_ms double precision, p_backoff_max_ms double precision) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
declare
  v_event record;
begin
  if cardinality(p_delivered) > 0 then
    for v_event in
      with published as (
        -- By id alone: the events are this round's, locked by its claim. (A "published_at is null" here
        -- let the planner walk the whole undelivered index per round: PostgreSQL CPU per delivered event
        -- went from 42 to 54-65 µs in bench/delivery.ts.)
        update ticketing.outbox set published_at = clock_timestamp()
         where id = any(p_delivered)
        returning id, attempts
      )
      select id from published where attempts > 0
    loop
      perform ticketing.clear_alert('event_undeliverable:' || v_event.id);
    end loop;
    perform ticketing.clear_alert('delivery_gone');
  end if;
  if cardinality(p_failed) > 0 then
    update ticketing.outbox o
       set attempts = o.attempts + 1, last_error = left(f.error, 2000),
           next_attempt_at = clock_timestamp()
             + greatest(ticketing.outbox_retry_delay(o.attempts + 1, p_backoff_base_ms, p_backoff_max_ms),
                        coalesce(f.not_before_ms, 0) * interval '1 millisecond')
      from unnest(p_failed, p_errors, p_not_before_ms, p_kinds) as f(id, error, not_before_ms, kind)
     where o.id = f.id and f.kind <> 'poison';
    for v_event in select f.id, f.error from unnest(p_failed, p_errors, p_kinds) as f(id, error, kind) where f.kind = 'poison' loop
      perform ticketing.set_aside_outbox_event(v_event.id, v_event.error, p_backoff_base_ms, p_backoff_max_ms);
    end loop;
    if 'gone' = any(p_kinds) then
      perform ticketing.raise_alert('delivery_gone', 'delivery_gone',
        'the notification endpoint answers 410 Gone: events are kept and retried with backoff until it accepts them again',
        jsonb_build_object('event_id', (select o.event_id from ticketing.outbox o
                                          join unnest(p_failed, p_kinds) as f(id, kind) on f.id = o.id
                                         where f.kind = 'gone' order by o.id limit 1)));
    end if;
  end if;
end $$;

ALTER FUNCTION ticketing.record_outbox_outcomes(p_delivered bigint[], p_failed bigint[], p_errors text[], p_not_before_ms double precision[], p_kinds text[], p_backoff_base_ms double precision, p_backoff_max_ms double precision) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.redeem_ticket(ticket_id bigint, event_id text, meta jsonb DEFAULT '{}'::jsonb) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.redeem_ticket(ticket_id bigint, event_id text, meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.redrive_requests(p_older_than interval, p_limit integer DEFAULT 1000, p_max_redrives integer DEFAULT 5) RETURNS TABLE(kind text, redriven bigint, failed bigint)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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
      left join ticketing.worker_jobs j on j.key = 'request:' || r.event_id
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

  -- A bulk refund is a batch of refund requests: its lost job counts as a refund re-driven.
  for v_bulk in
    select b.id from ticketing.bulk_refunds b
     where b.finished_at is null and b.created_at < clock_timestamp() - p_older_than
       and not exists (select 1 from ticketing.worker_jobs j
                        where j.key = 'bulk_refund:' || b.id and j.attempts < j.max_attempts)
  loop
    perform ticketing.enqueue_bulk_refund_job(v_bulk);
    v_done := array_append(v_done, 'redriven');
    v_kinds := array_append(v_kinds, 'refund');
  end loop;

  return query select k, count(*) filter (where d = 'redriven'), count(*) filter (where d = 'failed')
                 from unnest(v_kinds, v_done) as u(k, d) group by k;
end $$;

ALTER FUNCTION ticketing.redrive_requests(p_older_than interval, p_limit integer, p_max_redrives integer) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.refuse_foreign_triggers() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
declare
  v_table text;
  v_trigger name;
begin
  -- graphile_worker's tables count too: the engine's functions queue jobs (add_job runs with its caller's
  -- rights), so a trigger there would run as the engine as well.
  select format('%I.%I', n.nspname, c.relname), t.tgname into v_table, v_trigger
    from pg_catalog.pg_trigger t
    join pg_catalog.pg_class c on c.oid = t.tgrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join pg_catalog.pg_proc p on p.oid = t.tgfoid
   where n.nspname in ('ticketing', 'graphile_worker') and not t.tgisinternal
     and p.pronamespace not in ('ticketing'::regnamespace, 'graphile_worker'::regnamespace)
   limit 1;
  if found then
    raise exception using errcode = 'TL403',
      message = format('%s carries trigger %I, which is not the project''s: ticketing functions write nothing while it exists',
                       v_table, v_trigger),
      hint = 'drop that trigger; TRIGGER on ticketing and graphile_worker tables is granted to no role';
  end if;
  return null;
end $$;

ALTER FUNCTION ticketing.refuse_foreign_triggers() OWNER TO ticketing_schema_owner;

CREATE FUNCTION ticketing.refuse_request(p_event_id text, p_token uuid, p_reason text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.refuse_request(p_event_id text, p_token uuid, p_reason text) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.refuse_write() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
begin
  raise exception using errcode = 'TL403',
    message = format('%s on ticketing.%s refused: %s', tg_op, tg_table_name, tg_argv[0]),
    hint = 'write through the ticketing functions (README: guarantees)';
end $$;

ALTER FUNCTION ticketing.refuse_write() OWNER TO ticketing_schema_owner;

CREATE FUNCTION ticketing.release_rate_slot(p_name text, p_slot integer, p_holder text) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  update ticketing.rate_limit_slots s set holder = null, lease_until = null
   where s.name = p_name and s.slot = p_slot and s.holder = p_holder;
$$;

ALTER FUNCTION ticketing.release_rate_slot(p_name text, p_slot integer, p_holder text) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.release_request(p_event_id text, p_token uuid, p_error text) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  update ticketing.ticket_requests
     set locked_until = null, lease_token = null, error = left(p_error, 2000), updated_at = clock_timestamp()
   where event_id = p_event_id and status = 'pending' and lease_token = p_token
  returning true;
$$;

ALTER FUNCTION ticketing.release_request(p_event_id text, p_token uuid, p_error text) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.replay_events(p_ticket_id bigint DEFAULT NULL::bigint, p_order_id bigint DEFAULT NULL::bigint, p_type text DEFAULT NULL::text, p_since timestamp with time zone DEFAULT NULL::timestamp with time zone, p_until timestamp with time zone DEFAULT NULL::timestamp with time zone, p_dry_run boolean DEFAULT false) RETURNS TABLE(id bigint, event_id text, type text, ticket_id bigint, order_id bigint, created_at timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
declare
  v_ids bigint[];
begin
  perform ticketing.require_filter('replay_events',
    array[p_ticket_id::text, p_order_id::text, p_type, p_since::text, p_until::text]);
  select coalesce(array_agg(x.id order by x.id), '{}') into v_ids
    from (select o.id from ticketing.outbox o
           where o.published_at is not null
             and (p_ticket_id is null or o.ticket_id = p_ticket_id)
             and (p_order_id is null or o.order_id = p_order_id)
             and (p_type is null or o.type = p_type)
             and (p_since is null or o.created_at >= p_since)
             and (p_until is null or o.created_at < p_until)
             for update) x;

  if not p_dry_run then
    update ticketing.outbox o
       set published_at = null, attempts = 0, next_attempt_at = clock_timestamp(), last_error = null
     where o.id = any(v_ids);
    perform ticketing.record_operator_action('replay_events',
      jsonb_build_object('ticket_id', p_ticket_id, 'order_id', p_order_id, 'type', p_type,
                         'since', p_since, 'until', p_until),
      cardinality(v_ids));
  end if;
  return query select o.id, o.event_id, o.type, o.ticket_id, o.order_id, o.created_at
                 from ticketing.outbox o where o.id = any(v_ids) order by o.id;
end $$;

ALTER FUNCTION ticketing.replay_events(p_ticket_id bigint, p_order_id bigint, p_type text, p_since timestamp with time zone, p_until timestamp with time zone, p_dry_run boolean) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.request_change(ticket_id bigint, event_id text, meta jsonb DEFAULT '{}'::jsonb) RETURNS text
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $_$ select ticketing.submit_request('change', $1, $2, $3); $_$;

ALTER FUNCTION ticketing.request_change(ticket_id bigint, event_id text, meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.request_order_refunds(order_ids bigint[], event_id text, meta jsonb DEFAULT '{}'::jsonb) RETURNS TABLE(ticket_id bigint, outcome text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.request_order_refunds(order_ids bigint[], event_id text, meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.request_refund(ticket_id bigint, event_id text, meta jsonb DEFAULT '{}'::jsonb) RETURNS text
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $_$ select ticketing.submit_request('refund', $1, $2, $3); $_$;

ALTER FUNCTION ticketing.request_refund(ticket_id bigint, event_id text, meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.request_refunds(ticket_ids bigint[], event_id text, meta jsonb DEFAULT '{}'::jsonb) RETURNS TABLE(ticket_id bigint, outcome text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
begin
  perform ticketing.check_bulk_arguments(request_refunds.ticket_ids, 'ticket_ids', request_refunds.event_id, request_refunds.meta);
  return query select r.ticket_id, r.outcome
                 from ticketing.record_bulk_refund(request_refunds.ticket_ids, request_refunds.event_id, request_refunds.meta) r;
end $$;

ALTER FUNCTION ticketing.request_refunds(ticket_ids bigint[], event_id text, meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.require_filter(p_action text, p_filters text[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
begin
  if (select bool_and(f is null) from unnest(p_filters) f) then
    perform ticketing.invalid_argument(format('%s needs at least one filter', p_action));
  end if;
end $$;

ALTER FUNCTION ticketing.require_filter(p_action text, p_filters text[]) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.rescue_orphaned_jobs(p_dead_after interval, p_max_rescues integer DEFAULT 3) RETURNS TABLE(job_id bigint, task_identifier text, locked_by text, daemon_id text, reason text, rescues integer, attempt_returned boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
declare
  -- Also marks this round's rows in job_rescues (rescued_at); rounds never overlap (advisory lock).
  v_now timestamptz := clock_timestamp();
  v_dead_owners text[];
  v_leaked_jobs bigint[];
  v_leaked_queues integer[];
begin
  if p_dead_after is null or p_dead_after < interval '1 second' then
    perform ticketing.invalid_argument('p_dead_after must be at least one second');
  end if;
  if p_max_rescues is null or p_max_rescues < 0 then
    perform ticketing.invalid_argument('p_max_rescues must be zero or more');
  end if;
  if not pg_try_advisory_xact_lock(hashtext('ticketing.rescue_orphaned_jobs')) then
    return;
  end if;

  with owners as (
    select w.worker_id, h.last_seen_at >= v_now - p_dead_after as live
      from ticketing.daemon_heartbeats h, unnest(h.worker_ids) as w(worker_id)
  ), holders as (
    select j.locked_by as holder, j.locked_at from ticketing.worker_jobs j where j.locked_by is not null
    union all
    select q.locked_by, q.locked_at from ticketing.worker_job_queues q where q.locked_by is not null
  )
  select array_agg(distinct x.holder) into v_dead_owners
    from holders x
   where exists (select 1 from owners o where o.worker_id = x.holder and not o.live)
      or (not exists (select 1 from owners o where o.worker_id = x.holder and o.live)
          and x.locked_at < v_now - p_dead_after);

  with candidates as (
    select j.id, j.task, j.locked_by, o.daemon_id,
           case when o.daemon_id is null then 'owner_unknown' else 'daemon_dead' end as reason, j.attempts
      from ticketing.worker_jobs j
      left join lateral (select h.daemon_id from ticketing.daemon_heartbeats h
                          where j.locked_by = any(h.worker_ids) limit 1) o on true
     where j.locked_by = any(v_dead_owners)
    union all
    -- A live daemon's leaked lock: taken before that daemon's last heartbeat (minus the margin), which
    -- does not list the job as running.
    select j.id, j.task, j.locked_by, h.daemon_id, 'lock_leaked', j.attempts
      from ticketing.daemon_heartbeats h
      join ticketing.worker_jobs j on j.locked_by = any(h.worker_ids)
     where h.last_seen_at >= v_now - p_dead_after
       and j.locked_at < h.last_seen_at - p_dead_after
       and not (j.id = any(h.active_job_ids))
       and not (j.locked_by = any(coalesce(v_dead_owners, '{}')))
  )
  insert into ticketing.job_rescues as r (job_id, task_identifier, locked_by, daemon_id, reason, rescues, attempt_returned, rescued_at)
  select c.id, c.task, c.locked_by, c.daemon_id, c.reason, 1, c.attempts > 0 and p_max_rescues >= 1, v_now
    from candidates c
  on conflict on constraint job_rescues_pkey do update
     set locked_by = excluded.locked_by, daemon_id = excluded.daemon_id, reason = excluded.reason,
         rescues = r.rescues + 1, attempt_returned = excluded.attempt_returned and r.rescues + 1 <= p_max_rescues,
         rescued_at = excluded.rescued_at;
  select array_agg(r.job_id) into v_leaked_jobs
    from ticketing.job_rescues r where r.rescued_at = v_now and r.reason = 'lock_leaked';

  -- A live daemon's queue lock is leaked when none of the jobs it runs is in that queue.
  select array_agg(q.id) into v_leaked_queues
    from ticketing.daemon_heartbeats h
    join ticketing.worker_job_queues q on q.locked_by = any(h.worker_ids)
   where h.last_seen_at >= v_now - p_dead_after
     and q.locked_at < h.last_seen_at - p_dead_after
     and not exists (select 1 from ticketing.worker_jobs j
                      where j.job_queue_id = q.id and j.locked_by = q.locked_by and j.id = any(h.active_job_ids))
     and not (q.locked_by = any(coalesce(v_dead_owners, '{}')));

  if v_dead_owners is not null then
    perform graphile_worker.force_unlock_workers(v_dead_owners);
  end if;
  -- force_unlock_workers frees every lock of a pool; a live pool's leaked locks are freed one by one.
  if v_leaked_jobs is not null then
    perform ticketing.unlock_worker_jobs(v_leaked_jobs);
  end if;
  if v_leaked_queues is not null then
    perform ticketing.unlock_worker_queues(v_leaked_queues);
  end if;

  -- reschedule_jobs only touches unlocked jobs: it runs after the locks are gone.
  perform graphile_worker.reschedule_jobs(array[r.job_id], attempts => j.attempts - 1)
     from ticketing.job_rescues r
     join ticketing.worker_jobs j on j.id = r.job_id
    where r.rescued_at = v_now and r.attempt_returned;

  -- A rescued request job may hold its request's lease (ticketing.claim_request): the lease goes with the
  -- worker that took it, so the request resumes now rather than when the lease runs out. Should another
  -- worker hold it instead, both may call the service; the decision is still applied once (apply_decision).
  update ticketing.ticket_requests q set locked_until = null, updated_at = clock_timestamp()
    from ticketing.job_rescues r
    join ticketing.worker_jobs j on j.id = r.job_id
   where r.rescued_at = v_now
     and r.task_identifier in (select k.task_identifier from ticketing.request_kinds k)
     and q.event_id = j.payload ->> 'event_id'
     and q.status = 'pending';

  -- Heartbeats of dead daemons have served their purpose; a daemon that was only cut off writes a new one.
  delete from ticketing.daemon_heartbeats h where h.last_seen_at < v_now - p_dead_after;
  delete from ticketing.job_rescues r
   where r.rescued_at < v_now and not exists (select 1 from ticketing.worker_jobs j where j.id = r.job_id);

  return query
  select r.job_id, r.task_identifier, r.locked_by, r.daemon_id, r.reason, r.rescues, r.attempt_returned
    from ticketing.job_rescues r
   where r.rescued_at = v_now
   order by r.job_id;
end $$;

ALTER FUNCTION ticketing.rescue_orphaned_jobs(p_dead_after interval, p_max_rescues integer) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.resolve_alert(p_key text, p_dry_run boolean DEFAULT false) RETURNS TABLE(id bigint, key text, kind text, message text, raised_at timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
declare
  v_alert ticketing.alerts;
begin
  select * into v_alert from ticketing.alerts a where a.key = p_key and a.cleared_at is null for update;
  if not found then
    return;
  end if;
  if not p_dry_run then
    perform ticketing.clear_alert(p_key);
    perform ticketing.record_operator_action('resolve_alert', jsonb_build_object('key', p_key, 'kind', v_alert.kind), 1);
  end if;
  return query select v_alert.id, v_alert.key, v_alert.kind, v_alert.message, v_alert.raised_at;
end $$;

ALTER FUNCTION ticketing.resolve_alert(p_key text, p_dry_run boolean) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.retire_daemon(p_daemon_id text) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  update ticketing.daemon_heartbeats set last_seen_at = '-infinity', active_job_ids = '{}' where daemon_id = p_daemon_id;
$$;

ALTER FUNCTION ticketing.retire_daemon(p_daemon_id text) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.retry_failed_jobs(p_job_ids bigint[], p_dry_run boolean DEFAULT false) RETURNS TABLE(id bigint, task text, attempts smallint, last_error text)
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$ select * from ticketing.settle_failed_jobs(p_job_ids, false, p_dry_run); $$;

ALTER FUNCTION ticketing.retry_failed_jobs(p_job_ids bigint[], p_dry_run boolean) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.retry_failed_requests(p_event_id text DEFAULT NULL::text, p_ticket_id bigint DEFAULT NULL::bigint, p_order_id bigint DEFAULT NULL::bigint, p_failed_since timestamp with time zone DEFAULT NULL::timestamp with time zone, p_failed_until timestamp with time zone DEFAULT NULL::timestamp with time zone, p_dry_run boolean DEFAULT false) RETURNS TABLE(event_id text, kind text, ticket_id bigint, failed_at timestamp with time zone, error text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
declare
  v_selected ticketing.ticket_requests[];
begin
  perform ticketing.require_filter('retry_failed_requests',
    array[p_event_id, p_ticket_id::text, p_order_id::text, p_failed_since::text, p_failed_until::text]);
  select coalesce(array_agg(r order by r.id), '{}') into v_selected
    from ticketing.ticket_requests r
   where r.id in (select q.id from ticketing.ticket_requests q
                   where q.status = 'failed'
                     and (p_event_id is null or q.event_id = p_event_id)
                     and (p_ticket_id is null or q.ticket_id = p_ticket_id)
                     and (p_order_id is null or q.ticket_id in (select t.id from ticketing.tickets t where t.order_id = p_order_id))
                     and (p_failed_since is null or q.finished_at >= p_failed_since)
                     and (p_failed_until is null or q.finished_at < p_failed_until)
                     for update);

  if not p_dry_run then
    update ticketing.ticket_requests r
       set status = 'pending', error = null, attempts = 0, redrives = 0, locked_until = null, lease_token = null, finished_at = null,
           updated_at = clock_timestamp()
      from unnest(v_selected) s
     where r.id = s.id;
    perform ticketing.enqueue_request_job(s.kind, s.ticket_id, s.event_id, s.meta) from unnest(v_selected) s;
    -- The person the rejection alert called for has acted; should the retry fail again, a new one is raised.
    perform ticketing.clear_alert('request_rejected:' || s.event_id) from unnest(v_selected) s;
    perform ticketing.record_operator_action('retry_failed_requests',
      jsonb_build_object('event_id', p_event_id, 'ticket_id', p_ticket_id, 'order_id', p_order_id,
                         'failed_since', p_failed_since, 'failed_until', p_failed_until),
      cardinality(v_selected));
  end if;
  return query select s.event_id, s.kind, s.ticket_id, s.finished_at, s.error from unnest(v_selected) s order by s.id;
end $$;

ALTER FUNCTION ticketing.retry_failed_requests(p_event_id text, p_ticket_id bigint, p_order_id bigint, p_failed_since timestamp with time zone, p_failed_until timestamp with time zone, p_dry_run boolean) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.seed_demo() RETURNS TABLE(order_ids bigint[], ticket_ids bigint[], past_valid_end integer, redeemed integer, refunds integer, changes integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
declare
  -- Per group: how many orders, and per order how many tickets are past valid_end, redeemed, refunded,
  -- changed (in that order; the rest stay usable).
  v_groups constant integer[][] := array[
    [5, 0, 0, 0, 0],  -- nothing due: they stay open
    [5, 3, 0, 0, 0],  -- all expire: completed
    [6, 1, 2, 0, 0],  -- the expiry of the last one completes them
    [2, 1, 0, 0, 0],  -- one expires, two still valid: they stay open
    [1, 0, 2, 1, 0],  -- the refund completes it
    [1, 0, 0, 0, 1]   -- changed, then re-issued with a new valid_end
  ];
  v_tickets_per_order constant integer := 3;
  v_order bigint;
  v_ticket bigint;
  v_orders bigint[] := '{}';
  v_tickets bigint[] := '{}';
  v_valid_in interval[] := '{}';
  v_redeem bigint[] := '{}';
  v_refund bigint[] := '{}';
  v_change bigint[] := '{}';
  v_past integer := 0;
  g integer;
  o integer;
  t integer;
begin
  if not pg_has_role(session_user, (select d.datdba from pg_database d where d.datname = current_database()), 'USAGE') then
    raise exception using errcode = 'TL403',
      message = format('%s may not seed the demo: run it as the database owner', session_user);
  end if;
  select coalesce(max(id), 0) into v_order from ticketing.orders;
  select coalesce(max(id), 0) into v_ticket from ticketing.tickets;
  for g in 1 .. array_length(v_groups, 1) loop
    for o in 1 .. v_groups[g][1] loop
      v_order := v_order + 1;
      v_orders := v_orders || v_order;
      for t in 0 .. v_tickets_per_order - 1 loop
        v_ticket := v_ticket + 1;
        v_tickets := v_tickets || v_ticket;
        if t < v_groups[g][2] then
          -- Past tickets ended between one and 48 hours ago; the others are valid for days to come.
          v_valid_in := v_valid_in || make_interval(hours => -(1 + ((v_ticket::numeric * 7) % 48))::integer);
          v_past := v_past + 1;
        else
          v_valid_in := v_valid_in || make_interval(days => (1 + ((v_ticket::numeric * 5) % 30))::integer);
          if t < v_groups[g][2] + v_groups[g][3] then
            v_redeem := v_redeem || v_ticket;
          elsif t < v_groups[g][2] + v_groups[g][3] + v_groups[g][4] then
            v_refund := v_refund || v_ticket;
          elsif t < v_groups[g][2] + v_groups[g][3] + v_groups[g][4] + v_groups[g][5] then
            v_change := v_change || v_ticket;
          end if;
        end if;
      end loop;
    end loop;
  end loop;

  insert into ticketing.orders (id) select unnest(v_orders);
  insert into ticketing.tickets (id, order_id, valid_end)
  select s.id, v_orders[((s.n - 1) / v_tickets_per_order) + 1], now() + s.valid_in
    from unnest(v_tickets, v_valid_in) with ordinality as s(id, valid_in, n);
  perform ticketing.redeem_ticket(id, 'demo-redeem-' || id, '{"gate": "north-1"}') from unnest(v_redeem) as id;
  perform ticketing.request_refund(id, 'demo-refund-' || id, '{"reason": "customer request"}')
     from unnest(v_refund) as id;
  perform ticketing.request_change(id, 'demo-change-' || id,
                                   jsonb_build_object('valid_end', now() + interval '45 days', 'reason', 'new date'))
     from unnest(v_change) as id;

  return query select v_orders, v_tickets, v_past, cardinality(v_redeem), cardinality(v_refund), cardinality(v_change);
end;
$$;

ALTER FUNCTION ticketing.seed_demo() OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.set_aside_outbox_event(p_id bigint, p_error text, p_backoff_base_ms double precision, p_backoff_max_ms double precision) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
declare
  v_event_id text;
begin
  update ticketing.outbox
     set attempts = attempts + 1, last_error = left(p_error, 2000),
         next_attempt_at = clock_timestamp() + ticketing.outbox_retry_delay(attempts + 1, p_backoff_base_ms, p_backoff_max_ms)
   where id = p_id
  returning event_id into v_event_id;
  -- Keyed by the outbox id: an event id is any text, and one too long for the alerts' key index would
  -- make the alert fail in turn. The message names the event id (cut short), the details hold all of it.
  perform ticketing.raise_alert('event_undeliverable:' || p_id, 'event_undeliverable',
                                format('event %s cannot be delivered and is set aside, retried with backoff: %s',
                                       left(v_event_id, 200), left(p_error, 500)),
                                jsonb_build_object('event_id', v_event_id, 'outbox_id', p_id));
end $$;

ALTER FUNCTION ticketing.set_aside_outbox_event(p_id bigint, p_error text, p_backoff_base_ms double precision, p_backoff_max_ms double precision) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.settle_failed_jobs(p_job_ids bigint[], p_discard boolean, p_dry_run boolean) RETURNS TABLE(id bigint, task text, attempts smallint, last_error text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
declare
  v_jobs ticketing.failed_jobs[];
  v_ids bigint[];
begin
  if p_job_ids is null or cardinality(p_job_ids) = 0 then
    perform ticketing.invalid_argument('at least one job id is required');
  end if;
  perform ticketing.lock_worker_jobs(p_job_ids);
  select coalesce(array_agg(f order by f.id), '{}'), coalesce(array_agg(f.id), '{}') into v_jobs, v_ids
    from ticketing.failed_jobs f
   where f.id = any(p_job_ids);

  if not p_dry_run then
    if p_discard then
      perform graphile_worker.complete_jobs(v_ids);
    else
      perform graphile_worker.reschedule_jobs(v_ids, run_at => now(), attempts => 0);
    end if;
    perform ticketing.record_operator_action(case when p_discard then 'discard_failed_jobs' else 'retry_failed_jobs' end,
      jsonb_build_object('job_ids', to_jsonb(p_job_ids),
                         'jobs', (select jsonb_agg(jsonb_build_object('id', f.id, 'task', f.task)) from unnest(v_jobs) f)),
      cardinality(v_ids));
  end if;
  return query select f.id, f.task, f.attempts, f.last_error from unnest(v_jobs) f order by f.id;
end $$;

ALTER FUNCTION ticketing.settle_failed_jobs(p_job_ids bigint[], p_discard boolean, p_dry_run boolean) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.submit_request(kind text, ticket_id bigint, event_id text, meta jsonb DEFAULT '{}'::jsonb) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.submit_request(kind text, ticket_id bigint, event_id text, meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.sweep_job(OUT task_identifier text, OUT queue_name text, OUT job_key text, OUT job_key_mode text, OUT max_attempts integer, OUT batch_size integer) RETURNS record
    LANGUAGE sql IMMUTABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select 'expire_tickets', 'expire_tickets', 'expire_tickets', 'preserve_run_at', 1, 200;
$$;

ALTER FUNCTION ticketing.sweep_job(OUT task_identifier text, OUT queue_name text, OUT job_key text, OUT job_key_mode text, OUT max_attempts integer, OUT batch_size integer) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.touch_orders_of_new_tickets() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
begin
  update ticketing.orders o set tickets_added_at = clock_timestamp()
   where o.id in (select distinct i.order_id from inserted i);
  return null;
end $$;

ALTER FUNCTION ticketing.touch_orders_of_new_tickets() OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.transition_ticket(ticket_id bigint, new_status text, event_id text, event text DEFAULT NULL::text, meta jsonb DEFAULT '{}'::jsonb) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
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

ALTER FUNCTION ticketing.transition_ticket(ticket_id bigint, new_status text, event_id text, event text, meta jsonb) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.undelivered_count(p_ids bigint[]) RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select count(*)::integer from ticketing.outbox o where o.id = any(p_ids) and o.published_at is null;
$$;

ALTER FUNCTION ticketing.undelivered_count(p_ids bigint[]) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.unknown_orders(p_order_ids bigint[]) RETURNS TABLE(ticket_id bigint, outcome text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  select null::bigint, 'unknown_order'
    from (select distinct u.id from unnest(p_order_ids) u(id)) o
   where not exists (select 1 from ticketing.orders x where x.id = o.id);
$$;

ALTER FUNCTION ticketing.unknown_orders(p_order_ids bigint[]) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.unlock_worker_jobs(p_job_ids bigint[]) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  update graphile_worker._private_jobs j set locked_at = null, locked_by = null where j.id = any(p_job_ids);
$$;

ALTER FUNCTION ticketing.unlock_worker_jobs(p_job_ids bigint[]) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.unlock_worker_queues(p_queue_ids integer[]) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $$
  update graphile_worker._private_job_queues q set locked_at = null, locked_by = null where q.id = any(p_queue_ids);
$$;

ALTER FUNCTION ticketing.unlock_worker_queues(p_queue_ids integer[]) OWNER TO ticketing_engine;

CREATE FUNCTION ticketing.valid_end_problem(p_meta jsonb) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'ticketing', 'pg_temp'
    AS $_$
declare
  v_text text := p_meta ->> 'valid_end';
  v_valid_end timestamptz;
begin
  if p_meta is null or not p_meta ? 'valid_end' then
    return 'a change needs meta.valid_end, the re-issued ticket''s validity';
  end if;
  if jsonb_typeof(p_meta -> 'valid_end') <> 'string' then
    return format('meta.valid_end must be a string timestamp, not %s', jsonb_typeof(p_meta -> 'valid_end'));
  end if;
  if lower(btrim(v_text)) in ('infinity', '+infinity', '-infinity') then
    return format('meta.valid_end %L is not finite', v_text);
  end if;
  if v_text !~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)$' then
    return format('meta.valid_end %L is not a timestamp with an explicit UTC offset (e.g. 2030-06-01T12:00:00-04:00)', left(v_text, 100));
  end if;
  begin
    v_valid_end := v_text::timestamptz;
  exception when data_exception then
    return format('meta.valid_end %L is not a timestamp', left(v_text, 100));
  end;
  if v_valid_end < now() - interval '1 day' or v_valid_end > now() + interval '10 years' then
    return format('meta.valid_end %s is out of range (from a day ago to ten years ahead)', v_text);
  end if;
  return null;
end $_$;

ALTER FUNCTION ticketing.valid_end_problem(p_meta jsonb) OWNER TO ticketing_engine;

CREATE TABLE ticketing.alerts (
    id bigint NOT NULL,
    key text NOT NULL,
    kind text NOT NULL,
    message text NOT NULL,
    details jsonb DEFAULT '{}'::jsonb NOT NULL,
    raised_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    cleared_at timestamp with time zone
);

ALTER TABLE ticketing.alerts OWNER TO ticketing_schema_owner;

CREATE VIEW ticketing.active_alerts AS
 SELECT alerts.id,
    alerts.key,
    alerts.kind,
    alerts.message,
    alerts.details,
    alerts.raised_at
   FROM ticketing.alerts
  WHERE (alerts.cleared_at IS NULL);

ALTER TABLE ticketing.active_alerts OWNER TO ticketing_schema_owner;

CREATE TABLE ticketing.alert_kinds (
    kind text NOT NULL,
    description text NOT NULL
);

ALTER TABLE ticketing.alert_kinds OWNER TO ticketing_schema_owner;

ALTER TABLE ticketing.alerts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ticketing.alerts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE VIEW ticketing.applied_migrations AS
 SELECT m.index,
    m.name
   FROM public.atdatabases_migrations_applied m
  WHERE (NOT m.obsolete);

ALTER TABLE ticketing.applied_migrations OWNER TO ticketing_schema_owner;

CREATE TABLE ticketing.bulk_refunds (
    id bigint NOT NULL,
    event_id text NOT NULL,
    meta jsonb DEFAULT '{}'::jsonb NOT NULL,
    requested integer NOT NULL,
    fed_through bigint,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    finished_at timestamp with time zone,
    done integer,
    failed integer
);

ALTER TABLE ticketing.bulk_refunds OWNER TO ticketing_schema_owner;

ALTER TABLE ticketing.bulk_refunds ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ticketing.bulk_refunds_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE ticketing.daemon_heartbeats (
    daemon_id text NOT NULL,
    pid integer NOT NULL,
    host text NOT NULL,
    started_at timestamp with time zone NOT NULL,
    last_seen_at timestamp with time zone NOT NULL,
    worker_ids text[] DEFAULT '{}'::text[] NOT NULL,
    active_job_ids bigint[] DEFAULT '{}'::bigint[] NOT NULL
);

ALTER TABLE ticketing.daemon_heartbeats OWNER TO ticketing_schema_owner;

CREATE TABLE ticketing.expiry_quarantine (
    ticket_id bigint NOT NULL,
    order_id bigint NOT NULL,
    error text NOT NULL,
    sqlstate text NOT NULL,
    attempts integer NOT NULL,
    quarantined_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    last_failed_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    next_attempt_at timestamp with time zone NOT NULL
);

ALTER TABLE ticketing.expiry_quarantine OWNER TO ticketing_schema_owner;

CREATE VIEW ticketing.worker_jobs AS
 SELECT j.id,
    t.identifier AS task,
    q.queue_name,
    j.key,
    j.payload,
    j.run_at,
    j.attempts,
    j.max_attempts,
    j.last_error,
    j.locked_at,
    j.locked_by,
    j.job_queue_id,
    j.created_at,
    j.updated_at
   FROM ((graphile_worker._private_jobs j
     JOIN graphile_worker._private_tasks t ON ((t.id = j.task_id)))
     LEFT JOIN graphile_worker._private_job_queues q ON ((q.id = j.job_queue_id)));

ALTER TABLE ticketing.worker_jobs OWNER TO ticketing_schema_owner;

CREATE VIEW ticketing.failed_jobs AS
 SELECT j.id,
    j.task,
    j.queue_name,
    j.attempts,
    j.max_attempts,
    j.last_error,
    j.payload,
    j.created_at,
    j.updated_at AS failed_at
   FROM ticketing.worker_jobs j
  WHERE ((j.locked_at IS NULL) AND (j.attempts >= j.max_attempts));

ALTER TABLE ticketing.failed_jobs OWNER TO ticketing_schema_owner;

CREATE TABLE ticketing.job_health (
    task text NOT NULL,
    consecutive_failures integer DEFAULT 0 NOT NULL,
    last_success_at timestamp with time zone,
    last_failure_at timestamp with time zone,
    last_error text
);

ALTER TABLE ticketing.job_health OWNER TO ticketing_schema_owner;

CREATE TABLE ticketing.job_rescues (
    job_id bigint NOT NULL,
    task_identifier text NOT NULL,
    locked_by text NOT NULL,
    daemon_id text,
    reason text NOT NULL,
    rescues integer NOT NULL,
    attempt_returned boolean NOT NULL,
    rescued_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT job_rescues_reason_check CHECK ((reason = ANY (ARRAY['daemon_dead'::text, 'owner_unknown'::text, 'lock_leaked'::text])))
);

ALTER TABLE ticketing.job_rescues OWNER TO ticketing_schema_owner;

CREATE TABLE ticketing.operator_actions (
    id bigint NOT NULL,
    actor text DEFAULT SESSION_USER NOT NULL,
    acted_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    action text NOT NULL,
    parameters jsonb DEFAULT '{}'::jsonb NOT NULL,
    affected integer NOT NULL
);

ALTER TABLE ticketing.operator_actions OWNER TO ticketing_schema_owner;

ALTER TABLE ticketing.operator_actions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ticketing.operator_actions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE ticketing.order_statuses (
    status text NOT NULL,
    final boolean NOT NULL,
    "position" smallint NOT NULL
);

ALTER TABLE ticketing.order_statuses OWNER TO ticketing_schema_owner;

CREATE TABLE ticketing.orders (
    id bigint NOT NULL,
    status text DEFAULT 'open'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    completed_at timestamp with time zone,
    cancelled_at timestamp with time zone,
    tickets_added_at timestamp with time zone
);

ALTER TABLE ticketing.orders OWNER TO ticketing_schema_owner;

CREATE TABLE ticketing.outbox (
    id bigint NOT NULL,
    event_id text NOT NULL,
    type text NOT NULL,
    ticket_id bigint,
    order_id bigint,
    seq bigint,
    payload jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    published_at timestamp with time zone,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    last_error text
);

ALTER TABLE ticketing.outbox OWNER TO ticketing_schema_owner;

ALTER TABLE ticketing.outbox ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ticketing.outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE ticketing.rate_limit_slots (
    name text NOT NULL,
    slot integer NOT NULL,
    holder text,
    lease_until timestamp with time zone
);

ALTER TABLE ticketing.rate_limit_slots OWNER TO ticketing_schema_owner;

CREATE TABLE ticketing.rate_limits (
    name text NOT NULL,
    next_start_at timestamp with time zone NOT NULL
);

ALTER TABLE ticketing.rate_limits OWNER TO ticketing_schema_owner;

CREATE TABLE ticketing.request_kinds (
    kind text NOT NULL,
    task_identifier text NOT NULL,
    target_status text NOT NULL,
    in_flight_status text,
    requested_event text NOT NULL,
    alert_on_refusal boolean NOT NULL,
    reissue_status text,
    "position" smallint
);

ALTER TABLE ticketing.request_kinds OWNER TO ticketing_schema_owner;

COMMENT ON COLUMN ticketing.request_kinds.reissue_status IS 'after the target, the ticket is re-issued in this status with a new valid_end; null: not re-issued';

CREATE TABLE ticketing.request_statuses (
    status text NOT NULL,
    final boolean NOT NULL,
    "position" smallint NOT NULL
);

ALTER TABLE ticketing.request_statuses OWNER TO ticketing_schema_owner;

CREATE VIEW ticketing.worker_tasks AS
 SELECT t.id,
    t.identifier
   FROM graphile_worker._private_tasks t;

ALTER TABLE ticketing.worker_tasks OWNER TO ticketing_schema_owner;

CREATE VIEW ticketing.status_jobs AS
 SELECT t.identifier AS task,
    count(j.id) FILTER (WHERE ((j.locked_at IS NULL) AND (j.attempts < j.max_attempts) AND (j.run_at <= now()))) AS waiting,
    count(j.id) FILTER (WHERE ((j.locked_at IS NULL) AND (j.attempts < j.max_attempts) AND (j.run_at > now()))) AS scheduled,
    count(j.id) FILTER (WHERE (j.locked_at IS NOT NULL)) AS running,
    count(j.id) FILTER (WHERE ((j.locked_at IS NULL) AND (j.attempts >= j.max_attempts))) AS failed
   FROM (ticketing.worker_tasks t
     LEFT JOIN ticketing.worker_jobs j ON ((j.task = t.identifier)))
  GROUP BY t.identifier;

ALTER TABLE ticketing.status_jobs OWNER TO ticketing_schema_owner;

CREATE VIEW ticketing.status_orders AS
 SELECT s.status,
    count(o.id) AS count,
    s."position"
   FROM (ticketing.order_statuses s
     LEFT JOIN ticketing.orders o ON ((o.status = s.status)))
  GROUP BY s.status, s."position";

ALTER TABLE ticketing.status_orders OWNER TO ticketing_schema_owner;

CREATE VIEW ticketing.status_outbox AS
 SELECT ( SELECT count(*) AS count
           FROM ticketing.outbox
          WHERE (outbox.published_at IS NULL)) AS backlog,
    ( SELECT count(*) AS count
           FROM ticketing.outbox
          WHERE ((outbox.published_at IS NULL) AND (outbox.attempts > 0))) AS retrying,
    ( SELECT min(outbox.created_at) AS min
           FROM ticketing.outbox
          WHERE (outbox.published_at IS NULL)) AS oldest_undelivered_at,
    ( SELECT count(*) AS count
           FROM ticketing.outbox
          WHERE (outbox.published_at IS NOT NULL)) AS delivered;

ALTER TABLE ticketing.status_outbox OWNER TO ticketing_schema_owner;

CREATE VIEW ticketing.status_quarantine AS
 SELECT q.ticket_id,
    q.order_id,
    q.attempts,
    q.sqlstate,
    q.error,
    q.quarantined_at,
    q.last_failed_at,
    q.next_attempt_at
   FROM ticketing.expiry_quarantine q;

ALTER TABLE ticketing.status_quarantine OWNER TO ticketing_schema_owner;

CREATE VIEW ticketing.status_requests AS
 SELECT k.kind,
    s.status,
    count(r.id) AS count,
    k."position" AS kind_position,
    s."position" AS status_position
   FROM ((ticketing.request_kinds k
     CROSS JOIN ticketing.request_statuses s)
     LEFT JOIN ticketing.ticket_requests r ON (((r.kind = k.kind) AND (r.status = s.status))))
  GROUP BY k.kind, s.status, k."position", s."position";

ALTER TABLE ticketing.status_requests OWNER TO ticketing_schema_owner;

CREATE TABLE ticketing.ticket_statuses (
    status text NOT NULL,
    terminal boolean NOT NULL
);

ALTER TABLE ticketing.ticket_statuses OWNER TO ticketing_schema_owner;

CREATE TABLE ticketing.tickets (
    id bigint NOT NULL,
    order_id bigint NOT NULL,
    status text DEFAULT 'usable'::text NOT NULL,
    valid_end timestamp with time zone NOT NULL,
    seq bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ticketing.tickets OWNER TO ticketing_schema_owner;

CREATE VIEW ticketing.status_tickets AS
 SELECT s.status,
    count(t.id) AS count
   FROM (ticketing.ticket_statuses s
     LEFT JOIN ticketing.tickets t ON ((t.status = s.status)))
  GROUP BY s.status;

ALTER TABLE ticketing.status_tickets OWNER TO ticketing_schema_owner;

ALTER TABLE ticketing.ticket_requests ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ticketing.ticket_requests_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE ticketing.ticket_status_audit (
    id bigint NOT NULL,
    ticket_id bigint NOT NULL,
    seq bigint NOT NULL,
    prev_status text NOT NULL,
    new_status text NOT NULL,
    event_id text NOT NULL,
    event text,
    meta jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL
);

ALTER TABLE ticketing.ticket_status_audit OWNER TO ticketing_schema_owner;

ALTER TABLE ticketing.ticket_status_audit ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ticketing.ticket_status_audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE ticketing.transitions (
    from_status text NOT NULL,
    to_status text NOT NULL,
    event_type text NOT NULL
);

ALTER TABLE ticketing.transitions OWNER TO ticketing_schema_owner;

CREATE VIEW ticketing.worker_job_queues AS
 SELECT q.id,
    q.queue_name,
    q.locked_at,
    q.locked_by
   FROM graphile_worker._private_job_queues q;

ALTER TABLE ticketing.worker_job_queues OWNER TO ticketing_schema_owner;

ALTER TABLE ONLY ticketing.alert_kinds
    ADD CONSTRAINT alert_kinds_pkey PRIMARY KEY (kind);

ALTER TABLE ONLY ticketing.alerts
    ADD CONSTRAINT alerts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY ticketing.bulk_refunds
    ADD CONSTRAINT bulk_refunds_pkey PRIMARY KEY (id);

ALTER TABLE ONLY ticketing.daemon_heartbeats
    ADD CONSTRAINT daemon_heartbeats_pkey PRIMARY KEY (daemon_id);

ALTER TABLE ONLY ticketing.expiry_quarantine
    ADD CONSTRAINT expiry_quarantine_pkey PRIMARY KEY (ticket_id);

ALTER TABLE ONLY ticketing.job_health
    ADD CONSTRAINT job_health_pkey PRIMARY KEY (task);

ALTER TABLE ONLY ticketing.job_rescues
    ADD CONSTRAINT job_rescues_pkey PRIMARY KEY (job_id);

ALTER TABLE ONLY ticketing.operator_actions
    ADD CONSTRAINT operator_actions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY ticketing.order_statuses
    ADD CONSTRAINT order_statuses_pkey PRIMARY KEY (status);

ALTER TABLE ONLY ticketing.order_statuses
    ADD CONSTRAINT order_statuses_position_key UNIQUE ("position");

ALTER TABLE ONLY ticketing.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);

ALTER TABLE ONLY ticketing.outbox
    ADD CONSTRAINT outbox_event_id_key UNIQUE (event_id);

ALTER TABLE ONLY ticketing.outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);

ALTER TABLE ONLY ticketing.rate_limit_slots
    ADD CONSTRAINT rate_limit_slots_pkey PRIMARY KEY (name, slot);

ALTER TABLE ONLY ticketing.rate_limits
    ADD CONSTRAINT rate_limits_pkey PRIMARY KEY (name);

ALTER TABLE ONLY ticketing.request_kinds
    ADD CONSTRAINT request_kinds_pkey PRIMARY KEY (kind);

ALTER TABLE ONLY ticketing.request_kinds
    ADD CONSTRAINT request_kinds_position_key UNIQUE ("position");

ALTER TABLE ONLY ticketing.request_kinds
    ADD CONSTRAINT request_kinds_task_identifier_key UNIQUE (task_identifier);

ALTER TABLE ONLY ticketing.request_statuses
    ADD CONSTRAINT request_statuses_pkey PRIMARY KEY (status);

ALTER TABLE ONLY ticketing.request_statuses
    ADD CONSTRAINT request_statuses_position_key UNIQUE ("position");

ALTER TABLE ONLY ticketing.ticket_requests
    ADD CONSTRAINT ticket_requests_event_id_key UNIQUE (event_id);

ALTER TABLE ONLY ticketing.ticket_requests
    ADD CONSTRAINT ticket_requests_pkey PRIMARY KEY (id);

ALTER TABLE ONLY ticketing.ticket_status_audit
    ADD CONSTRAINT ticket_status_audit_idempotency UNIQUE (ticket_id, new_status, event_id);

ALTER TABLE ONLY ticketing.ticket_status_audit
    ADD CONSTRAINT ticket_status_audit_order UNIQUE (ticket_id, seq);

ALTER TABLE ONLY ticketing.ticket_status_audit
    ADD CONSTRAINT ticket_status_audit_pkey PRIMARY KEY (id);

ALTER TABLE ONLY ticketing.ticket_statuses
    ADD CONSTRAINT ticket_statuses_pkey PRIMARY KEY (status);

ALTER TABLE ONLY ticketing.tickets
    ADD CONSTRAINT tickets_pkey PRIMARY KEY (id);

ALTER TABLE ticketing.tickets
    ADD CONSTRAINT tickets_valid_end_finite CHECK (isfinite(valid_end)) NOT VALID;

ALTER TABLE ONLY ticketing.transitions
    ADD CONSTRAINT transitions_pkey PRIMARY KEY (from_status, to_status);

CREATE UNIQUE INDEX alerts_one_active_per_key ON ticketing.alerts USING btree (key) WHERE (cleared_at IS NULL);

CREATE INDEX bulk_refunds_unfinished_idx ON ticketing.bulk_refunds USING btree (id) WHERE (finished_at IS NULL);

CREATE INDEX outbox_published_idx ON ticketing.outbox USING btree (published_at) WHERE (published_at IS NOT NULL);

CREATE INDEX outbox_ticket_undelivered_idx ON ticketing.outbox USING btree (ticket_id, id) WHERE (published_at IS NULL);

CREATE INDEX outbox_undelivered_idx ON ticketing.outbox USING btree (next_attempt_at, id) WHERE (published_at IS NULL);

CREATE INDEX ticket_requests_bulk_failed_idx ON ticketing.ticket_requests USING btree (bulk_id) WHERE ((status = 'failed'::text) AND (bulk_id IS NOT NULL));

CREATE INDEX ticket_requests_bulk_pending_idx ON ticketing.ticket_requests USING btree (bulk_id, id) WHERE ((status = 'pending'::text) AND (bulk_id IS NOT NULL));

CREATE INDEX ticket_requests_pending_idx ON ticketing.ticket_requests USING btree (updated_at) WHERE (status = 'pending'::text);

CREATE INDEX ticket_requests_ticket_idx ON ticketing.ticket_requests USING btree (ticket_id);

CREATE INDEX ticket_status_audit_ticket_created_idx ON ticketing.ticket_status_audit USING btree (ticket_id, created_at);

CREATE INDEX tickets_expiry_idx ON ticketing.tickets USING btree (valid_end, id) WHERE (status = 'usable'::text);

CREATE INDEX tickets_order_status_idx ON ticketing.tickets USING btree (order_id, status);

CREATE TRIGGER audit_append_only BEFORE DELETE OR UPDATE ON ticketing.ticket_status_audit FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('the audit trail is append-only');

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.alert_kinds FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.alerts FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.bulk_refunds FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.daemon_heartbeats FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.expiry_quarantine FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.job_health FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.job_rescues FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.operator_actions FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.order_statuses FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.orders FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.outbox FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.rate_limit_slots FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.rate_limits FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.request_kinds FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.request_statuses FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.ticket_requests FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.ticket_status_audit FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.ticket_statuses FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.tickets FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_foreign_triggers BEFORE INSERT OR DELETE OR UPDATE ON ticketing.transitions FOR EACH STATEMENT WHEN ((CURRENT_USER = 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_foreign_triggers();

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.alert_kinds FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.alerts FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.bulk_refunds FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.daemon_heartbeats FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.expiry_quarantine FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.job_health FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.job_rescues FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.operator_actions FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.order_statuses FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.orders FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.outbox FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.rate_limit_slots FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.rate_limits FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.request_kinds FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.request_statuses FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.ticket_requests FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.ticket_status_audit FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.ticket_statuses FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.tickets FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_truncate BEFORE TRUNCATE ON ticketing.transitions FOR EACH STATEMENT EXECUTE FUNCTION ticketing.refuse_write('TRUNCATE is refused on every ticketing table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.alert_kinds FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.alerts FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.bulk_refunds FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.daemon_heartbeats FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.expiry_quarantine FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.job_health FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.job_rescues FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.operator_actions FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.order_statuses FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.outbox FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.rate_limit_slots FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.rate_limits FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.request_kinds FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.request_statuses FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.ticket_requests FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.ticket_status_audit FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.ticket_statuses FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER guard_writes BEFORE INSERT OR DELETE OR UPDATE ON ticketing.transitions FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('only ticketing functions write this table');

CREATE TRIGGER orders_delete_guard BEFORE DELETE ON ticketing.orders FOR EACH ROW WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.guard_order_delete();

CREATE TRIGGER orders_insert_guard BEFORE INSERT ON ticketing.orders FOR EACH ROW WHEN (((CURRENT_USER <> 'ticketing_engine'::name) AND ((new.status <> 'open'::text) OR (new.completed_at IS NOT NULL) OR (new.cancelled_at IS NOT NULL)))) EXECUTE FUNCTION ticketing.refuse_write('new orders are open, with no completed_at or cancelled_at');

CREATE TRIGGER orders_update_guard BEFORE UPDATE ON ticketing.orders FOR EACH ROW WHEN (((CURRENT_USER <> 'ticketing_engine'::name) AND ((((new.id IS DISTINCT FROM old.id) OR (new.status IS DISTINCT FROM old.status)) OR (new.completed_at IS DISTINCT FROM old.completed_at)) OR (new.cancelled_at IS DISTINCT FROM old.cancelled_at)))) EXECUTE FUNCTION ticketing.refuse_write('an order''s status is derived from its tickets (ticketing.recompute_orders)');

CREATE TRIGGER outbox_notify AFTER INSERT ON ticketing.outbox FOR EACH STATEMENT EXECUTE FUNCTION ticketing.notify_outbox();

CREATE TRIGGER tickets_delete_guard BEFORE DELETE ON ticketing.tickets FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.refuse_write('tickets are never deleted: their audit trail, events and order refer to them');

CREATE TRIGGER tickets_insert_guard BEFORE INSERT ON ticketing.tickets FOR EACH ROW WHEN (((CURRENT_USER <> 'ticketing_engine'::name) AND ((new.status <> 'usable'::text) OR (new.seq <> 0)))) EXECUTE FUNCTION ticketing.refuse_write('new tickets start as usable with seq 0');

CREATE TRIGGER tickets_order_guard AFTER INSERT ON ticketing.tickets REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.guard_ticket_order();

CREATE TRIGGER tickets_touch_orders AFTER INSERT ON ticketing.tickets REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION ticketing.touch_orders_of_new_tickets();

CREATE TRIGGER tickets_update_guard BEFORE UPDATE ON ticketing.tickets FOR EACH ROW WHEN ((CURRENT_USER <> 'ticketing_engine'::name)) EXECUTE FUNCTION ticketing.guard_ticket_status();

ALTER TABLE ONLY ticketing.alerts
    ADD CONSTRAINT alerts_kind_fkey FOREIGN KEY (kind) REFERENCES ticketing.alert_kinds(kind);

ALTER TABLE ONLY ticketing.orders
    ADD CONSTRAINT orders_status_fkey FOREIGN KEY (status) REFERENCES ticketing.order_statuses(status);

ALTER TABLE ONLY ticketing.rate_limit_slots
    ADD CONSTRAINT rate_limit_slots_name_fkey FOREIGN KEY (name) REFERENCES ticketing.rate_limits(name);

ALTER TABLE ONLY ticketing.request_kinds
    ADD CONSTRAINT request_kinds_in_flight_status_fkey FOREIGN KEY (in_flight_status) REFERENCES ticketing.ticket_statuses(status);

ALTER TABLE ONLY ticketing.request_kinds
    ADD CONSTRAINT request_kinds_reissue_status_fkey FOREIGN KEY (reissue_status) REFERENCES ticketing.ticket_statuses(status);

ALTER TABLE ONLY ticketing.request_kinds
    ADD CONSTRAINT request_kinds_target_status_fkey FOREIGN KEY (target_status) REFERENCES ticketing.ticket_statuses(status);

ALTER TABLE ONLY ticketing.ticket_requests
    ADD CONSTRAINT ticket_requests_bulk_id_fkey FOREIGN KEY (bulk_id) REFERENCES ticketing.bulk_refunds(id);

ALTER TABLE ONLY ticketing.ticket_requests
    ADD CONSTRAINT ticket_requests_kind_fkey FOREIGN KEY (kind) REFERENCES ticketing.request_kinds(kind);

ALTER TABLE ONLY ticketing.ticket_requests
    ADD CONSTRAINT ticket_requests_status_fkey FOREIGN KEY (status) REFERENCES ticketing.request_statuses(status);

ALTER TABLE ONLY ticketing.tickets
    ADD CONSTRAINT tickets_order_id_fkey FOREIGN KEY (order_id) REFERENCES ticketing.orders(id);

ALTER TABLE ONLY ticketing.transitions
    ADD CONSTRAINT transitions_from_status_fkey FOREIGN KEY (from_status) REFERENCES ticketing.ticket_statuses(status);

ALTER TABLE ONLY ticketing.transitions
    ADD CONSTRAINT transitions_to_status_fkey FOREIGN KEY (to_status) REFERENCES ticketing.ticket_statuses(status);

GRANT USAGE ON SCHEMA ticketing TO ticketing_client;
GRANT USAGE ON SCHEMA ticketing TO ticketing_reader;
GRANT ALL ON SCHEMA ticketing TO ticketing_engine;
GRANT USAGE ON SCHEMA ticketing TO ticketing_daemon;
GRANT USAGE ON SCHEMA ticketing TO ticketing_writer;

REVOKE ALL ON FUNCTION ticketing.acquire_rate_slot(p_name text, p_rate double precision, p_concurrency integer, p_holder text, p_lease interval) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.acquire_rate_slot(p_name text, p_rate double precision, p_concurrency integer, p_holder text, p_lease interval) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.active_alert_counts() FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.active_alert_counts() TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.apply_decision(p_event_id text, p_token uuid, p_target_status text, p_valid_end timestamp with time zone, p_meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.apply_decision(p_event_id text, p_token uuid, p_target_status text, p_valid_end timestamp with time zone, p_meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.apply_locked_transitions(p_ticket_ids bigint[], p_new_status text, p_event_id text, p_event text, p_meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.apply_locked_transitions(p_ticket_ids bigint[], p_new_status text, p_event_id text, p_event text, p_meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.apply_transitions(p_ticket_ids bigint[], p_new_status text, p_event_id text, p_event text, p_meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.apply_transitions(p_ticket_ids bigint[], p_new_status text, p_event_id text, p_event text, p_meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.approve_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.approve_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.begin_request(p_event_id text, p_token uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.begin_request(p_event_id text, p_token uuid) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.bulk_of_request(p_event_id text, p_ticket_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.bulk_of_request(p_event_id text, p_ticket_id bigint) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.bulk_refund_progress(p_unfinished_only boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.bulk_refund_progress(p_unfinished_only boolean) TO ticketing_client;
GRANT ALL ON FUNCTION ticketing.bulk_refund_progress(p_unfinished_only boolean) TO ticketing_reader;
GRANT ALL ON FUNCTION ticketing.bulk_refund_progress(p_unfinished_only boolean) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.check_bulk_arguments(p_ids bigint[], p_what text, p_event_id text, p_meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.check_bulk_arguments(p_ids bigint[], p_what text, p_event_id text, p_meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.check_change_meta(p_meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.check_change_meta(p_meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.check_event_id(p_event_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.check_event_id(p_event_id text) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.check_meta(p_meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.check_meta(p_meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.claim_outbox(p_limit integer, p_source text, p_backoff_base_ms double precision, p_backoff_max_ms double precision) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.claim_outbox(p_limit integer, p_source text, p_backoff_base_ms double precision, p_backoff_max_ms double precision) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.claim_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb, p_lease interval) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.claim_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb, p_lease interval) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.clear_alert(p_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.clear_alert(p_key text) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.delete_failed_jobs(p_older_than interval, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.delete_failed_jobs(p_older_than interval, p_limit integer) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.describe_refusal(p_ticket_id bigint, p_target text) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.describe_refusal(p_ticket_id bigint, p_target text) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.discard_failed_jobs(p_job_ids bigint[], p_dry_run boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.discard_failed_jobs(p_job_ids bigint[], p_dry_run boolean) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.drain_bulk_refund(p_bulk_id bigint, p_batch_size integer, p_after_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.drain_bulk_refund(p_bulk_id bigint, p_batch_size integer, p_after_id bigint) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.enqueue_bulk_refund_job(p_bulk_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.enqueue_bulk_refund_job(p_bulk_id bigint) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.enqueue_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.enqueue_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.enqueue_request_job(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.enqueue_request_job(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.event_id_problem(p_event_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.event_id_problem(p_event_id text) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.expire_batch(p_batch_size integer, p_grace interval, p_after_valid_end timestamp with time zone, p_after_id bigint, p_retry_after interval) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.expire_batch(p_batch_size integer, p_grace interval, p_after_valid_end timestamp with time zone, p_after_id bigint, p_retry_after interval) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.expiry_backlog(p_grace interval) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.expiry_backlog(p_grace interval) TO ticketing_reader;
GRANT ALL ON FUNCTION ticketing.expiry_backlog(p_grace interval) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.expiry_lag_seconds() FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.expiry_lag_seconds() TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.fail_invalid_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.fail_invalid_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.fail_request(p_event_id text, p_token uuid, p_reason text, p_alert boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.fail_request(p_event_id text, p_token uuid, p_reason text, p_alert boolean) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.feed_bulk_refund(p_bulk_id bigint, p_window integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.feed_bulk_refund(p_bulk_id bigint, p_window integer) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.finish_bulk_refund(p_bulk_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.finish_bulk_refund(p_bulk_id bigint) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.give_up_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.give_up_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb, p_reason text) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.guard_order_delete() FROM PUBLIC;

REVOKE ALL ON FUNCTION ticketing.guard_ticket_order() FROM PUBLIC;

REVOKE ALL ON FUNCTION ticketing.guard_ticket_status() FROM PUBLIC;

REVOKE ALL ON FUNCTION ticketing.harden() FROM PUBLIC;

REVOKE ALL ON FUNCTION ticketing.invalid_argument(p_message text) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.invalid_argument(p_message text) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.latest_operator_actions(p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.latest_operator_actions(p_limit integer) TO ticketing_reader;
GRANT ALL ON FUNCTION ticketing.latest_operator_actions(p_limit integer) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.live_daemons(p_seen_within interval) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.live_daemons(p_seen_within interval) TO ticketing_daemon;

GRANT SELECT ON TABLE ticketing.ticket_requests TO ticketing_client;
GRANT SELECT ON TABLE ticketing.ticket_requests TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.ticket_requests TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.ticket_requests TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.ticket_requests TO ticketing_writer;

REVOKE ALL ON FUNCTION ticketing.lock_leased_request(p_event_id text, p_token uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.lock_leased_request(p_event_id text, p_token uuid) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.lock_worker_jobs(p_job_ids bigint[]) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.lock_worker_jobs(p_job_ids bigint[]) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.meta_problem(p_meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.meta_problem(p_meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.ms_until_next_outbox_attempt() FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.ms_until_next_outbox_attempt() TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.notify_outbox() FROM PUBLIC;

REVOKE ALL ON FUNCTION ticketing.oldest_pending_request_seconds() FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.oldest_pending_request_seconds() TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.order_progress(p_order_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.order_progress(p_order_id bigint) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.outbox_backlog(OUT undelivered bigint, OUT oldest_age_seconds double precision) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.outbox_backlog(OUT undelivered bigint, OUT oldest_age_seconds double precision) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.outbox_cloudevent(p_event_id text, p_type text, p_ticket_id bigint, p_order_id bigint, p_seq bigint, p_payload jsonb, p_created_at timestamp with time zone, p_source text, p_with_data boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.outbox_cloudevent(p_event_id text, p_type text, p_ticket_id bigint, p_order_id bigint, p_seq bigint, p_payload jsonb, p_created_at timestamp with time zone, p_source text, p_with_data boolean) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.outbox_notification(p_id bigint, p_message text, p_source text) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.outbox_notification(p_id bigint, p_message text, p_source text) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.outbox_retry_delay(p_attempts integer, p_base_ms double precision, p_max_ms double precision) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.outbox_retry_delay(p_attempts integer, p_base_ms double precision, p_max_ms double precision) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.plan_order_refunds(order_ids bigint[], event_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.plan_order_refunds(order_ids bigint[], event_id text) TO ticketing_client;
GRANT ALL ON FUNCTION ticketing.plan_order_refunds(order_ids bigint[], event_id text) TO ticketing_reader;
GRANT ALL ON FUNCTION ticketing.plan_order_refunds(order_ids bigint[], event_id text) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.plan_refunds(ticket_ids bigint[], event_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.plan_refunds(ticket_ids bigint[], event_id text) TO ticketing_client;
GRANT ALL ON FUNCTION ticketing.plan_refunds(ticket_ids bigint[], event_id text) TO ticketing_reader;
GRANT ALL ON FUNCTION ticketing.plan_refunds(ticket_ids bigint[], event_id text) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.prune_outbox(p_retention_hours integer, p_chunk integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.prune_outbox(p_retention_hours integer, p_chunk integer) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.publish_outbox_by_notify(p_limit integer, p_source text, p_backoff_base_ms double precision, p_backoff_max_ms double precision) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.publish_outbox_by_notify(p_limit integer, p_source text, p_backoff_base_ms double precision, p_backoff_max_ms double precision) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.queue_sweep(p_batch_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.queue_sweep(p_batch_size integer) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.raise_alert(p_key text, p_kind text, p_message text, p_details jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.raise_alert(p_key text, p_kind text, p_message text, p_details jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.recompute_orders(p_order_ids bigint[]) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.recompute_orders(p_order_ids bigint[]) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.record_bad_request(p_kind text, p_ticket_id bigint, p_event_id text, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.record_bad_request(p_kind text, p_ticket_id bigint, p_event_id text, p_reason text) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.record_bulk_refund(p_ticket_ids bigint[], p_event_id text, p_meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.record_bulk_refund(p_ticket_ids bigint[], p_event_id text, p_meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.record_heartbeat(p_daemon_id text, p_pid integer, p_host text, p_started_at timestamp with time zone, p_worker_ids text[], p_active_job_ids bigint[]) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.record_heartbeat(p_daemon_id text, p_pid integer, p_host text, p_started_at timestamp with time zone, p_worker_ids text[], p_active_job_ids bigint[]) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.record_job_result(p_task text, p_ok boolean, p_error text, p_threshold integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.record_job_result(p_task text, p_ok boolean, p_error text, p_threshold integer) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.record_operator_action(p_action text, p_parameters jsonb, p_affected integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.record_operator_action(p_action text, p_parameters jsonb, p_affected integer) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.record_outbox_outcomes(p_delivered bigint[], p_failed bigint[], p_errors text[], p_not_before_ms double precision[], p_kinds text[], p_backoff_base_ms double precision, p_backoff_max_ms double precision) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.record_outbox_outcomes(p_delivered bigint[], p_failed bigint[], p_errors text[], p_not_before_ms double precision[], p_kinds text[], p_backoff_base_ms double precision, p_backoff_max_ms double precision) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.redeem_ticket(ticket_id bigint, event_id text, meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.redeem_ticket(ticket_id bigint, event_id text, meta jsonb) TO ticketing_client;
GRANT ALL ON FUNCTION ticketing.redeem_ticket(ticket_id bigint, event_id text, meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.redrive_requests(p_older_than interval, p_limit integer, p_max_redrives integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.redrive_requests(p_older_than interval, p_limit integer, p_max_redrives integer) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.refuse_foreign_triggers() FROM PUBLIC;

REVOKE ALL ON FUNCTION ticketing.refuse_request(p_event_id text, p_token uuid, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.refuse_request(p_event_id text, p_token uuid, p_reason text) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.refuse_write() FROM PUBLIC;

REVOKE ALL ON FUNCTION ticketing.release_rate_slot(p_name text, p_slot integer, p_holder text) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.release_rate_slot(p_name text, p_slot integer, p_holder text) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.release_request(p_event_id text, p_token uuid, p_error text) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.release_request(p_event_id text, p_token uuid, p_error text) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.replay_events(p_ticket_id bigint, p_order_id bigint, p_type text, p_since timestamp with time zone, p_until timestamp with time zone, p_dry_run boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.replay_events(p_ticket_id bigint, p_order_id bigint, p_type text, p_since timestamp with time zone, p_until timestamp with time zone, p_dry_run boolean) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.request_change(ticket_id bigint, event_id text, meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.request_change(ticket_id bigint, event_id text, meta jsonb) TO ticketing_client;
GRANT ALL ON FUNCTION ticketing.request_change(ticket_id bigint, event_id text, meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.request_order_refunds(order_ids bigint[], event_id text, meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.request_order_refunds(order_ids bigint[], event_id text, meta jsonb) TO ticketing_client;
GRANT ALL ON FUNCTION ticketing.request_order_refunds(order_ids bigint[], event_id text, meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.request_refund(ticket_id bigint, event_id text, meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.request_refund(ticket_id bigint, event_id text, meta jsonb) TO ticketing_client;
GRANT ALL ON FUNCTION ticketing.request_refund(ticket_id bigint, event_id text, meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.request_refunds(ticket_ids bigint[], event_id text, meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.request_refunds(ticket_ids bigint[], event_id text, meta jsonb) TO ticketing_client;
GRANT ALL ON FUNCTION ticketing.request_refunds(ticket_ids bigint[], event_id text, meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.require_filter(p_action text, p_filters text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.require_filter(p_action text, p_filters text[]) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.rescue_orphaned_jobs(p_dead_after interval, p_max_rescues integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.rescue_orphaned_jobs(p_dead_after interval, p_max_rescues integer) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.resolve_alert(p_key text, p_dry_run boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.resolve_alert(p_key text, p_dry_run boolean) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.retire_daemon(p_daemon_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.retire_daemon(p_daemon_id text) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.retry_failed_jobs(p_job_ids bigint[], p_dry_run boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.retry_failed_jobs(p_job_ids bigint[], p_dry_run boolean) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.retry_failed_requests(p_event_id text, p_ticket_id bigint, p_order_id bigint, p_failed_since timestamp with time zone, p_failed_until timestamp with time zone, p_dry_run boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.retry_failed_requests(p_event_id text, p_ticket_id bigint, p_order_id bigint, p_failed_since timestamp with time zone, p_failed_until timestamp with time zone, p_dry_run boolean) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.seed_demo() FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.seed_demo() TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.set_aside_outbox_event(p_id bigint, p_error text, p_backoff_base_ms double precision, p_backoff_max_ms double precision) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.set_aside_outbox_event(p_id bigint, p_error text, p_backoff_base_ms double precision, p_backoff_max_ms double precision) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.settle_failed_jobs(p_job_ids bigint[], p_discard boolean, p_dry_run boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.settle_failed_jobs(p_job_ids bigint[], p_discard boolean, p_dry_run boolean) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.submit_request(kind text, ticket_id bigint, event_id text, meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.submit_request(kind text, ticket_id bigint, event_id text, meta jsonb) TO ticketing_client;
GRANT ALL ON FUNCTION ticketing.submit_request(kind text, ticket_id bigint, event_id text, meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.sweep_job(OUT task_identifier text, OUT queue_name text, OUT job_key text, OUT job_key_mode text, OUT max_attempts integer, OUT batch_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.sweep_job(OUT task_identifier text, OUT queue_name text, OUT job_key text, OUT job_key_mode text, OUT max_attempts integer, OUT batch_size integer) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.touch_orders_of_new_tickets() FROM PUBLIC;

REVOKE ALL ON FUNCTION ticketing.transition_ticket(ticket_id bigint, new_status text, event_id text, event text, meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.transition_ticket(ticket_id bigint, new_status text, event_id text, event text, meta jsonb) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.undelivered_count(p_ids bigint[]) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.undelivered_count(p_ids bigint[]) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.unknown_orders(p_order_ids bigint[]) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.unknown_orders(p_order_ids bigint[]) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.unlock_worker_jobs(p_job_ids bigint[]) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.unlock_worker_jobs(p_job_ids bigint[]) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.unlock_worker_queues(p_queue_ids integer[]) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.unlock_worker_queues(p_queue_ids integer[]) TO ticketing_daemon;

REVOKE ALL ON FUNCTION ticketing.valid_end_problem(p_meta jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ticketing.valid_end_problem(p_meta jsonb) TO ticketing_daemon;

GRANT SELECT ON TABLE ticketing.alerts TO ticketing_client;
GRANT SELECT ON TABLE ticketing.alerts TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.alerts TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.alerts TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.alerts TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.active_alerts TO ticketing_client;
GRANT SELECT ON TABLE ticketing.active_alerts TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.active_alerts TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.active_alerts TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.active_alerts TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.alert_kinds TO ticketing_client;
GRANT SELECT ON TABLE ticketing.alert_kinds TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.alert_kinds TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.alert_kinds TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.alert_kinds TO ticketing_writer;

GRANT SELECT,USAGE ON SEQUENCE ticketing.alerts_id_seq TO ticketing_engine;

GRANT SELECT ON TABLE ticketing.applied_migrations TO ticketing_client;
GRANT SELECT ON TABLE ticketing.applied_migrations TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.applied_migrations TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.applied_migrations TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.applied_migrations TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.bulk_refunds TO ticketing_client;
GRANT SELECT ON TABLE ticketing.bulk_refunds TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.bulk_refunds TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.bulk_refunds TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.bulk_refunds TO ticketing_writer;

GRANT SELECT,USAGE ON SEQUENCE ticketing.bulk_refunds_id_seq TO ticketing_engine;

GRANT SELECT ON TABLE ticketing.daemon_heartbeats TO ticketing_client;
GRANT SELECT ON TABLE ticketing.daemon_heartbeats TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.daemon_heartbeats TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.daemon_heartbeats TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.daemon_heartbeats TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.expiry_quarantine TO ticketing_client;
GRANT SELECT ON TABLE ticketing.expiry_quarantine TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.expiry_quarantine TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.expiry_quarantine TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.expiry_quarantine TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.worker_jobs TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.worker_jobs TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.worker_jobs TO ticketing_daemon;

GRANT SELECT ON TABLE ticketing.failed_jobs TO ticketing_client;
GRANT SELECT ON TABLE ticketing.failed_jobs TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.failed_jobs TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.failed_jobs TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.failed_jobs TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.job_health TO ticketing_client;
GRANT SELECT ON TABLE ticketing.job_health TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.job_health TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.job_health TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.job_health TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.job_rescues TO ticketing_client;
GRANT SELECT ON TABLE ticketing.job_rescues TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.job_rescues TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.job_rescues TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.job_rescues TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.operator_actions TO ticketing_client;
GRANT SELECT ON TABLE ticketing.operator_actions TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.operator_actions TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.operator_actions TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.operator_actions TO ticketing_writer;

GRANT SELECT,USAGE ON SEQUENCE ticketing.operator_actions_id_seq TO ticketing_engine;

GRANT SELECT ON TABLE ticketing.order_statuses TO ticketing_client;
GRANT SELECT ON TABLE ticketing.order_statuses TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.order_statuses TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.order_statuses TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.order_statuses TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.orders TO ticketing_client;
GRANT SELECT ON TABLE ticketing.orders TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.orders TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.orders TO ticketing_daemon;
GRANT SELECT,INSERT ON TABLE ticketing.orders TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.outbox TO ticketing_client;
GRANT SELECT ON TABLE ticketing.outbox TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.outbox TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.outbox TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.outbox TO ticketing_writer;

GRANT SELECT,USAGE ON SEQUENCE ticketing.outbox_id_seq TO ticketing_engine;

GRANT SELECT ON TABLE ticketing.rate_limit_slots TO ticketing_client;
GRANT SELECT ON TABLE ticketing.rate_limit_slots TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.rate_limit_slots TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.rate_limit_slots TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.rate_limit_slots TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.rate_limits TO ticketing_client;
GRANT SELECT ON TABLE ticketing.rate_limits TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.rate_limits TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.rate_limits TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.rate_limits TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.request_kinds TO ticketing_client;
GRANT SELECT ON TABLE ticketing.request_kinds TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.request_kinds TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.request_kinds TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.request_kinds TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.request_statuses TO ticketing_client;
GRANT SELECT ON TABLE ticketing.request_statuses TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.request_statuses TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.request_statuses TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.request_statuses TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.worker_tasks TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.worker_tasks TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.worker_tasks TO ticketing_daemon;

GRANT SELECT ON TABLE ticketing.status_jobs TO ticketing_client;
GRANT SELECT ON TABLE ticketing.status_jobs TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.status_jobs TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.status_jobs TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.status_jobs TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.status_orders TO ticketing_client;
GRANT SELECT ON TABLE ticketing.status_orders TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.status_orders TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.status_orders TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.status_orders TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.status_outbox TO ticketing_client;
GRANT SELECT ON TABLE ticketing.status_outbox TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.status_outbox TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.status_outbox TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.status_outbox TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.status_quarantine TO ticketing_client;
GRANT SELECT ON TABLE ticketing.status_quarantine TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.status_quarantine TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.status_quarantine TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.status_quarantine TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.status_requests TO ticketing_client;
GRANT SELECT ON TABLE ticketing.status_requests TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.status_requests TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.status_requests TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.status_requests TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.ticket_statuses TO ticketing_client;
GRANT SELECT ON TABLE ticketing.ticket_statuses TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.ticket_statuses TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.ticket_statuses TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.ticket_statuses TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.tickets TO ticketing_client;
GRANT SELECT ON TABLE ticketing.tickets TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.tickets TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.tickets TO ticketing_daemon;
GRANT SELECT,INSERT ON TABLE ticketing.tickets TO ticketing_writer;

GRANT UPDATE(valid_end) ON TABLE ticketing.tickets TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.status_tickets TO ticketing_client;
GRANT SELECT ON TABLE ticketing.status_tickets TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.status_tickets TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.status_tickets TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.status_tickets TO ticketing_writer;

GRANT SELECT,USAGE ON SEQUENCE ticketing.ticket_requests_id_seq TO ticketing_engine;

GRANT SELECT ON TABLE ticketing.ticket_status_audit TO ticketing_client;
GRANT SELECT ON TABLE ticketing.ticket_status_audit TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.ticket_status_audit TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.ticket_status_audit TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.ticket_status_audit TO ticketing_writer;

GRANT SELECT,USAGE ON SEQUENCE ticketing.ticket_status_audit_id_seq TO ticketing_engine;

GRANT SELECT ON TABLE ticketing.transitions TO ticketing_client;
GRANT SELECT ON TABLE ticketing.transitions TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.transitions TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.transitions TO ticketing_daemon;
GRANT SELECT ON TABLE ticketing.transitions TO ticketing_writer;

GRANT SELECT ON TABLE ticketing.worker_job_queues TO ticketing_reader;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE ticketing.worker_job_queues TO ticketing_engine;
GRANT SELECT ON TABLE ticketing.worker_job_queues TO ticketing_daemon;

ALTER DEFAULT PRIVILEGES FOR ROLE ticketing_schema_owner IN SCHEMA ticketing GRANT SELECT,USAGE ON SEQUENCES  TO ticketing_engine;

ALTER DEFAULT PRIVILEGES FOR ROLE ticketing_schema_owner IN SCHEMA ticketing GRANT SELECT ON TABLES  TO ticketing_client;
ALTER DEFAULT PRIVILEGES FOR ROLE ticketing_schema_owner IN SCHEMA ticketing GRANT SELECT ON TABLES  TO ticketing_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE ticketing_schema_owner IN SCHEMA ticketing GRANT SELECT,INSERT,DELETE,UPDATE ON TABLES  TO ticketing_engine;
ALTER DEFAULT PRIVILEGES FOR ROLE ticketing_schema_owner IN SCHEMA ticketing GRANT SELECT ON TABLES  TO ticketing_daemon;
ALTER DEFAULT PRIVILEGES FOR ROLE ticketing_schema_owner IN SCHEMA ticketing GRANT SELECT ON TABLES  TO ticketing_writer;

