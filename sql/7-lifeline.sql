-- Crash recovery for graphile-worker jobs. graphile-worker locks a job (and its named queue) with the
-- id of the worker pool that runs it, and only frees locks older than four hours: a daemon killed in the
-- middle of a sweep would hold the sweep's queue for four hours. Every daemon therefore records a
-- heartbeat here, with the pool ids it locks jobs under and the jobs it is running; any live daemon frees
-- the locks of a daemon whose heartbeat stopped (src/maintenance/lifeline.ts).

create table ticketing.daemon_heartbeats (
  daemon_id      text primary key,
  pid            integer not null,
  host           text not null,
  started_at     timestamptz not null,
  last_seen_at   timestamptz not null,
  -- The values graphile-worker writes to jobs.locked_by / job_queues.locked_by for this process (in
  -- graphile-worker 0.17 one per worker pool).
  worker_ids     text[] not null default '{}',
  -- The jobs this process was running at last_seen_at: a job it locks but does not run is a leaked lock.
  active_job_ids bigint[] not null default '{}'
);

-- One row per job the lifeline released, while the job exists: how often it was rescued, so a job that
-- kills every process running it (a poison pill) is not handed back forever.
create table ticketing.job_rescues (
  job_id           bigint primary key,
  task_identifier  text not null,
  locked_by        text not null,
  daemon_id        text,
  reason           text not null check (reason in ('daemon_dead', 'owner_unknown', 'lock_leaked')),
  rescues          integer not null,
  attempt_returned boolean not null,
  rescued_at       timestamptz not null default clock_timestamp()
);

create function ticketing.record_heartbeat(
  p_daemon_id text, p_pid integer, p_host text, p_started_at timestamptz, p_worker_ids text[], p_active_job_ids bigint[]
) returns void
language sql
set search_path = ticketing, pg_temp
as $$
  insert into ticketing.daemon_heartbeats (daemon_id, pid, host, started_at, last_seen_at, worker_ids, active_job_ids)
  values (p_daemon_id, p_pid, p_host, p_started_at, clock_timestamp(), coalesce(p_worker_ids, '{}'), coalesce(p_active_job_ids, '{}'))
  on conflict (daemon_id) do update
     set last_seen_at = clock_timestamp(), worker_ids = excluded.worker_ids, active_job_ids = excluded.active_job_ids;
$$;

-- A daemon that stops (or gives up on a forced shutdown) declares itself gone: whatever it still holds
-- is freed by the next rescue, without waiting for its heartbeat to age.
create function ticketing.retire_daemon(p_daemon_id text) returns void
language sql
set search_path = ticketing, pg_temp
as $$
  update ticketing.daemon_heartbeats set last_seen_at = '-infinity', active_job_ids = '{}' where daemon_id = p_daemon_id;
$$;

-- Frees the jobs and queues that nobody is working on any more:
--   daemon_dead    locked by a pool of a daemon whose heartbeat is older than p_dead_after (or retired);
--   owner_unknown  locked by a pool no heartbeat claims, for longer than p_dead_after (a daemon without
--                  a lifeline, or one whose heartbeat row is gone);
--   lock_leaked    locked by a live daemon's pool that does not run the job (its completion was lost to
--                  a database outage), since before that daemon's last heartbeat minus p_dead_after.
-- A released job gets its interrupted attempt back (the attempt did not fail, its process died), up to
-- p_max_rescues times per job; after that it keeps the attempt and fails like any other. Dead daemons'
-- pools are released with graphile_worker.force_unlock_workers. One rescuer at a time: a concurrent
-- call returns nothing. Returns the released jobs.
create function ticketing.rescue_orphaned_jobs(p_dead_after interval, p_max_rescues integer default 3)
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
    select j.locked_by as holder, j.locked_at from graphile_worker._private_jobs j where j.locked_by is not null
    union all
    select q.locked_by, q.locked_at from graphile_worker._private_job_queues q where q.locked_by is not null
  )
  select array_agg(distinct x.holder) into v_dead_owners
    from holders x
   where exists (select 1 from owners o where o.worker_id = x.holder and not o.live)
      or (not exists (select 1 from owners o where o.worker_id = x.holder and o.live)
          and x.locked_at < v_now - p_dead_after);

  with candidates as (
    select j.id, t.identifier, j.locked_by, o.daemon_id,
           case when o.daemon_id is null then 'owner_unknown' else 'daemon_dead' end as reason, j.attempts
      from graphile_worker._private_jobs j
      join graphile_worker._private_tasks t on t.id = j.task_id
      left join lateral (select h.daemon_id from ticketing.daemon_heartbeats h
                          where j.locked_by = any(h.worker_ids) limit 1) o on true
     where j.locked_by = any(v_dead_owners)
    union all
    -- A live daemon's leaked lock: taken before that daemon's last heartbeat (minus the margin), which
    -- does not list the job as running.
    select j.id, t.identifier, j.locked_by, h.daemon_id, 'lock_leaked', j.attempts
      from ticketing.daemon_heartbeats h
      join graphile_worker._private_jobs j on j.locked_by = any(h.worker_ids)
      join graphile_worker._private_tasks t on t.id = j.task_id
     where h.last_seen_at >= v_now - p_dead_after
       and j.locked_at < h.last_seen_at - p_dead_after
       and not (j.id = any(h.active_job_ids))
       and not (j.locked_by = any(coalesce(v_dead_owners, '{}')))
  )
  insert into ticketing.job_rescues as r (job_id, task_identifier, locked_by, daemon_id, reason, rescues, attempt_returned, rescued_at)
  select c.id, c.identifier, c.locked_by, c.daemon_id, c.reason, 1, c.attempts > 0 and p_max_rescues >= 1, v_now
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
    join graphile_worker._private_job_queues q on q.locked_by = any(h.worker_ids)
   where h.last_seen_at >= v_now - p_dead_after
     and q.locked_at < h.last_seen_at - p_dead_after
     and not exists (select 1 from graphile_worker._private_jobs j
                      where j.job_queue_id = q.id and j.locked_by = q.locked_by and j.id = any(h.active_job_ids))
     and not (q.locked_by = any(coalesce(v_dead_owners, '{}')));

  if v_dead_owners is not null then
    perform graphile_worker.force_unlock_workers(v_dead_owners);
  end if;
  -- force_unlock_workers frees every lock of a pool; a live pool's leaked locks are freed one by one.
  if v_leaked_jobs is not null then
    update graphile_worker._private_jobs j set locked_at = null, locked_by = null where j.id = any(v_leaked_jobs);
  end if;
  if v_leaked_queues is not null then
    update graphile_worker._private_job_queues q set locked_at = null, locked_by = null where q.id = any(v_leaked_queues);
  end if;

  -- reschedule_jobs only touches unlocked jobs: it runs after the locks are gone.
  perform graphile_worker.reschedule_jobs(array[r.job_id], attempts => j.attempts - 1)
     from ticketing.job_rescues r
     join graphile_worker._private_jobs j on j.id = r.job_id
    where r.rescued_at = v_now and r.attempt_returned;

  -- A rescued refund/change job may hold its request's lease (ticketing.claim_request): the lease goes with
  -- the worker that took it, so the request resumes now rather than when the lease runs out. Should another
  -- worker hold it instead, both may call the service; the decision is still applied once (apply_decision).
  update ticketing.ticket_requests q set locked_until = null, updated_at = clock_timestamp()
    from ticketing.job_rescues r
    join graphile_worker._private_jobs j on j.id = r.job_id
   where r.rescued_at = v_now
     and r.task_identifier in ('ticket_refund_requested', 'ticket_change_requested')
     and q.event_id = j.payload ->> 'event_id'
     and q.status = 'pending';

  -- Heartbeats of dead daemons have served their purpose; a daemon that was only cut off writes a new one.
  delete from ticketing.daemon_heartbeats h where h.last_seen_at < v_now - p_dead_after;
  delete from ticketing.job_rescues r
   where r.rescued_at < v_now and not exists (select 1 from graphile_worker._private_jobs j where j.id = r.job_id);

  return query
  select r.job_id, r.task_identifier, r.locked_by, r.daemon_id, r.reason, r.rescues, r.attempt_returned
    from ticketing.job_rescues r
   where r.rescued_at = v_now
   order by r.job_id;
end $$;

-- A per-schema default privilege cannot take away PUBLIC's EXECUTE on new functions (that default is
-- global), so the functions above are closed here explicitly: only the daemon's own role calls them.
revoke execute on all functions in schema ticketing from public;
