-- Operations: the figures /metrics reads from the database at each scrape, and the operator actions
-- (retry failed requests, replay delivered events, retry or discard permanently failed jobs, resolve
-- alerts). Every action takes p_dry_run: true returns exactly the rows the real run would touch and
-- writes nothing; false touches them and records who did what in ticketing.operator_actions.

create table ticketing.operator_actions (
  id         bigint generated always as identity primary key,
  -- session_user: inside a SECURITY DEFINER function current_user is the function's owner, not the operator.
  actor      text not null default session_user,
  acted_at   timestamptz not null default clock_timestamp(),
  action     text not null,
  parameters jsonb not null default '{}',
  affected   integer not null
);

create function ticketing.record_operator_action(p_action text, p_parameters jsonb, p_affected integer)
returns bigint
language sql
set search_path = ticketing, pg_temp
as $$
  insert into ticketing.operator_actions (actor, action, parameters, affected)
  values (session_user, p_action, jsonb_strip_nulls(p_parameters), p_affected)
  returning id;
$$;

-- An action over "everything" is never what an operator meant: at least one filter is required.
create function ticketing.require_filter(p_action text, p_filters text[]) returns void
language plpgsql
set search_path = ticketing, pg_temp
as $$
begin
  if (select bool_and(f is null) from unnest(p_filters) f) then
    perform ticketing.invalid_argument(format('%s needs at least one filter', p_action));
  end if;
end $$;

-- Seconds since valid_end of the oldest usable ticket past it (0 when none): how far the sweep is behind.
-- One probe of tickets_expiry_idx.
create function ticketing.expiry_lag_seconds() returns float8
language sql
stable
set search_path = ticketing, pg_temp
as $$
  select coalesce(extract(epoch from now() - min(t.valid_end))::float8, 0)
    from ticketing.tickets t
   where t.status = 'usable' and t.valid_end < now();
$$;

-- Seconds since the oldest pending refund/change request was made (0 when none); reads the pending
-- requests' partial index only.
create function ticketing.oldest_pending_request_seconds() returns float8
language sql
stable
set search_path = ticketing, pg_temp
as $$
  select coalesce(extract(epoch from now() - min(r.created_at))::float8, 0)
    from ticketing.ticket_requests r
   where r.status = 'pending';
$$;

-- Daemons whose heartbeat is at most p_seen_within old (the lifeline's dead-after margin).
create function ticketing.live_daemons(p_seen_within interval default interval '30 seconds') returns integer
language sql
stable
set search_path = ticketing, pg_temp
as $$
  select count(*)::integer from ticketing.daemon_heartbeats h where h.last_seen_at >= clock_timestamp() - p_seen_within;
$$;

-- Active alerts per kind: every kind ever raised, plus the daemon's own kinds, at 0 when none is active,
-- so a dashboard's series never come and go.
create function ticketing.active_alert_counts() returns table (kind text, active integer)
language sql
stable
set search_path = ticketing, pg_temp
as $$
  select k.kind, count(a.id)::integer
    from (select 'job_failing' union select 'job_stalled' union select 'request_rejected'
          union select distinct a.kind from ticketing.alerts a) k(kind)
    left join ticketing.alerts a on a.kind = k.kind and a.cleared_at is null
   group by k.kind
   order by k.kind;
$$;

-- Failed refund/change requests (filters combine with AND; the time range is when they failed,
-- [p_failed_since, p_failed_until)) go back to pending with a fresh count of attempts, their job is
-- queued again and their request_rejected alert, if any, is cleared.
create function ticketing.retry_failed_requests(
  p_event_id text default null, p_ticket_id bigint default null, p_order_id bigint default null,
  p_failed_since timestamptz default null, p_failed_until timestamptz default null, p_dry_run boolean default false
) returns table (event_id text, kind text, ticket_id bigint, failed_at timestamptz, error text)
language plpgsql
set search_path = ticketing, pg_temp
as $$
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

-- Delivered events (filters combine with AND; the time range is when the event happened,
-- [p_since, p_until)) become undelivered and due now: the dispatcher sends them again, with their
-- original ids and in each ticket's order. Only events still kept (see OUTBOX_RETENTION_HOURS) can be.
create function ticketing.replay_events(
  p_ticket_id bigint default null, p_order_id bigint default null, p_type text default null,
  p_since timestamptz default null, p_until timestamptz default null, p_dry_run boolean default false
) returns table (id bigint, event_id text, type text, ticket_id bigint, order_id bigint, created_at timestamptz)
language plpgsql
set search_path = ticketing, pg_temp
as $$
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

-- How many of the given events are still undelivered: a replay's progress.
create function ticketing.undelivered_count(p_ids bigint[]) returns integer
language sql
stable
set search_path = ticketing, pg_temp
as $$
  select count(*)::integer from ticketing.outbox o where o.id = any(p_ids) and o.published_at is null;
$$;

-- Jobs out of attempts: graphile-worker will not run them again until someone retries them.
create view ticketing.failed_jobs as
  select j.id, t.identifier as task, q.queue_name, j.attempts, j.max_attempts, j.last_error, j.payload,
         j.created_at, j.updated_at as failed_at
    from graphile_worker._private_jobs j
    join graphile_worker._private_tasks t on t.id = j.task_id
    left join graphile_worker._private_job_queues q on q.id = j.job_queue_id
   where j.locked_at is null and j.attempts >= j.max_attempts;

-- Retry (p_discard false: due now with its attempts back, graphile_worker.reschedule_jobs) or discard
-- (p_discard true: deleted, graphile_worker.complete_jobs) permanently failed jobs; other ids are ignored.
create function ticketing.settle_failed_jobs(p_job_ids bigint[], p_discard boolean, p_dry_run boolean)
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
  -- Locked before they are judged, so a worker cannot take one between the check and the change.
  perform 1 from graphile_worker._private_jobs j where j.id = any(p_job_ids) order by j.id for update;
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

create function ticketing.retry_failed_jobs(p_job_ids bigint[], p_dry_run boolean default false)
returns table (id bigint, task text, attempts smallint, last_error text)
language sql
set search_path = ticketing, pg_temp
as $$ select * from ticketing.settle_failed_jobs(p_job_ids, false, p_dry_run); $$;

create function ticketing.discard_failed_jobs(p_job_ids bigint[], p_dry_run boolean default false)
returns table (id bigint, task text, attempts smallint, last_error text)
language sql
set search_path = ticketing, pg_temp
as $$ select * from ticketing.settle_failed_jobs(p_job_ids, true, p_dry_run); $$;

-- An operator clears an active alert (ticketing.clear_alert: the alert.cleared event goes out) and the
-- clearing is recorded. Returns the alert, or nothing when no alert with that key is active.
create function ticketing.resolve_alert(p_key text, p_dry_run boolean default false)
returns table (id bigint, key text, kind text, message text, raised_at timestamptz)
language plpgsql
set search_path = ticketing, pg_temp
as $$
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

grant select on ticketing.operator_actions, ticketing.failed_jobs to ticketing_reader;

-- A per-schema default privilege cannot take away PUBLIC's EXECUTE on new functions (that default is
-- global), so the functions above are closed here explicitly: only the daemon's own role calls them.
revoke execute on all functions in schema ticketing from public;
