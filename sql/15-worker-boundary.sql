-- graphile-worker's private tables (_private_jobs, _private_job_queues, _private_tasks) are read and written
-- here and nowhere else: every other function and view of the schema goes through the views and functions of
-- this file, or through graphile-worker's public functions (add_job, remove_job, complete_jobs,
-- reschedule_jobs, force_unlock_workers). An upgrade of graphile-worker that changes a column fails in this
-- file (and in test/graphileWorker.test.ts, which names the columns relied on). ticketing.harden() names the
-- tables too, for privileges only.
--
-- Also the request kinds as data: which task consumes a kind's jobs, what the built-in policy decides, what
-- the receipt step sets. A new kind is one row here (a migration that inserts it as ticketing_engine) and one
-- task file in tasks/.

create view ticketing.worker_jobs as
  select j.id, t.identifier as task, q.queue_name, j.key, j.payload, j.run_at, j.attempts, j.max_attempts,
         j.last_error, j.locked_at, j.locked_by, j.job_queue_id, j.created_at, j.updated_at
    from graphile_worker._private_jobs j
    join graphile_worker._private_tasks t on t.id = j.task_id
    left join graphile_worker._private_job_queues q on q.id = j.job_queue_id;

create view ticketing.worker_job_queues as
  select q.id, q.queue_name, q.locked_at, q.locked_by from graphile_worker._private_job_queues q;

create view ticketing.worker_tasks as
  select t.id, t.identifier from graphile_worker._private_tasks t;

-- Job payloads carry request meta: the views are for the daemon and for reading operators, not for services.
revoke all on ticketing.worker_jobs, ticketing.worker_job_queues, ticketing.worker_tasks
  from ticketing_client, ticketing_writer;

-- Locks jobs by id (in id order, so two callers cannot deadlock), for a caller that judges them before it
-- changes them: a worker cannot take one in between.
create function ticketing.lock_worker_jobs(p_job_ids bigint[]) returns void
language sql
set search_path = ticketing, pg_temp
as $$
  select null from graphile_worker._private_jobs j where j.id = any(p_job_ids) order by j.id for update;
$$;

-- Frees the locks of single jobs and queues whose worker no longer runs them while its pool lives on
-- (graphile_worker.force_unlock_workers frees a whole pool).
create function ticketing.unlock_worker_jobs(p_job_ids bigint[]) returns void
language sql
set search_path = ticketing, pg_temp
as $$
  update graphile_worker._private_jobs j set locked_at = null, locked_by = null where j.id = any(p_job_ids);
$$;

create function ticketing.unlock_worker_queues(p_queue_ids integer[]) returns void
language sql
set search_path = ticketing, pg_temp
as $$
  update graphile_worker._private_job_queues q set locked_at = null, locked_by = null where q.id = any(p_queue_ids);
$$;

create table ticketing.request_kinds (
  kind             text primary key,
  -- The graphile-worker task that consumes this kind's jobs (tasks/<task_identifier>.ts).
  task_identifier  text not null unique,
  -- What the built-in policy decides, and the status a rule service's decision is expected to name.
  target_status    text not null references ticketing.ticket_statuses,
  -- The status the ticket takes on receipt, before any service is asked (change: changing); null: none.
  in_flight_status text references ticketing.ticket_statuses,
  -- The audit event of that receipt step.
  requested_event  text not null,
  -- A refused request leaves the ticket in flight (changing), where it stays until someone looks: alert.
  alert_on_refusal boolean not null
);

insert into ticketing.request_kinds values
  ('refund', 'ticket_refund_requested', 'refunded', null, 'ticket.refund.requested', false),
  ('change', 'ticket_change_requested', 'changed', 'changing', 'ticket.change.requested', true);

alter table ticketing.ticket_requests
  drop constraint ticket_requests_kind_check,
  add constraint ticket_requests_kind_fkey foreign key (kind) references ticketing.request_kinds;

-- Re-pointed at the views above; what they return is unchanged.

create or replace view ticketing.failed_jobs as
  select j.id, j.task, j.queue_name, j.attempts, j.max_attempts, j.last_error, j.payload,
         j.created_at, j.updated_at as failed_at
    from ticketing.worker_jobs j
   where j.locked_at is null and j.attempts >= j.max_attempts;

create or replace view ticketing.status_jobs as
  select t.identifier as task,
         count(j.id) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at <= now()) as waiting,
         count(j.id) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at > now()) as scheduled,
         count(j.id) filter (where j.locked_at is not null) as running,
         count(j.id) filter (where j.locked_at is null and j.attempts >= j.max_attempts) as failed
    from ticketing.worker_tasks t
    left join ticketing.worker_jobs j on j.task = t.identifier
   group by t.identifier;

create or replace function ticketing.delete_failed_jobs(p_older_than interval, p_limit integer) returns bigint
language sql
set search_path = ticketing, pg_temp
as $$
  select count(*)
    from graphile_worker.complete_jobs(array(
           select j.id from ticketing.worker_jobs j
            where j.attempts >= j.max_attempts and j.locked_at is null and j.updated_at < now() - p_older_than
            limit p_limit));
$$;

create or replace function ticketing.settle_failed_jobs(p_job_ids bigint[], p_discard boolean, p_dry_run boolean)
returns table (id bigint, task text, attempts smallint, last_error text)
language plpgsql
set search_path = ticketing, pg_temp
as $$
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

-- The job of one request, queued for its kind's task; the job key keeps one queued or running job per
-- request. A job under that key that is out of attempts (graphile-worker keeps it, as permanently failed)
-- would swallow the new one: it is replaced.
create or replace function ticketing.enqueue_request_job(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb)
returns void
language plpgsql
set search_path = ticketing, pg_temp
as $$
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

create or replace function ticketing.redrive_requests(p_older_than interval, p_limit integer default 1000, p_max_redrives integer default 5)
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

-- Unchanged but for the views (and the request tasks read from request_kinds): see 7-lifeline.sql for what
-- each step is for.
create or replace function ticketing.rescue_orphaned_jobs(p_dead_after interval, p_max_rescues integer default 3)
returns table (job_id bigint, task_identifier text, locked_by text, daemon_id text, reason text, rescues integer, attempt_returned boolean)
language plpgsql
set search_path = ticketing, pg_temp
as $$
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

revoke execute on all functions in schema ticketing from public;
