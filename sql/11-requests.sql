-- Requests always end: leases carry a token, a change carries the validity its re-issue needs, the re-drive
-- revives a request whose job died (and fails one that keeps dying), and the last attempt fails the request.

-- The lease holder's proof: only the worker holding the token of a live lease may release, fail or decide
-- the request. `redrives` counts the jobs the re-drive had to start again for this request.
alter table ticketing.ticket_requests
  add column lease_token uuid,
  add column redrives integer not null default 0;
comment on column ticketing.ticket_requests.attempts is
  'leases taken on the service path (the built-in policy decides under the row lock and takes none)';
comment on column ticketing.ticket_requests.lease_token is 'the live lease''s token (claim_request), null when not leased';
comment on column ticketing.ticket_requests.redrives is 'fresh jobs the re-drive started for this request after its job was lost or died';

-- What is wrong with a change's meta.valid_end, or null when it is usable: a string timestamp with an explicit
-- UTC offset (a local time would be read in whatever time zone the reading session has), finite, and no
-- earlier than a day ago nor later than ten years ahead. Without it the change would stop at `changed`,
-- a status nothing leaves.
create function ticketing.valid_end_problem(p_meta jsonb) returns text
language plpgsql stable
set search_path = ticketing, pg_temp
as $$
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
end $$;

create function ticketing.check_change_meta(p_meta jsonb) returns void
language plpgsql stable
set search_path = ticketing, pg_temp
as $$
declare
  v_problem text := ticketing.valid_end_problem(p_meta);
begin
  if v_problem is not null then
    perform ticketing.invalid_argument(v_problem);
  end if;
end $$;

-- A change is refused unless its meta.valid_end is usable, in the caller's session, before anything is recorded.
create or replace function ticketing.request_change(ticket_id bigint, event_id text, meta jsonb default '{}')
returns text
language sql
security definer
set search_path = ticketing, pg_temp
as $$
  select ticketing.check_change_meta($3);
  select ticketing.enqueue_request('change', $1, $2, $3);
$$;

-- A final failure. Refused (false) while another worker's lease is live: p_token must be the live lease's,
-- or null when nobody holds one. With p_alert the failure also raises an alert.
drop function ticketing.fail_request(text, text, boolean);
create function ticketing.fail_request(p_event_id text, p_token uuid, p_reason text, p_alert boolean default false)
returns boolean
language plpgsql
set search_path = ticketing, pg_temp
as $$
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

-- A job whose payload names a ticket and an event but is otherwise unusable: recorded as a failed request
-- with the reason (unless that event_id is already known), so operators see it where they see the others.
create function ticketing.record_bad_request(p_kind text, p_ticket_id bigint, p_event_id text, p_reason text)
returns boolean
language sql
set search_path = ticketing, pg_temp
as $$
  insert into ticketing.ticket_requests (event_id, kind, ticket_id, status, error, finished_at)
  values (p_event_id, p_kind, p_ticket_id, 'failed', left(p_reason, 2000), clock_timestamp())
  on conflict (event_id) do nothing
  returning true;
$$;

-- Takes a request for processing: records it if a raw job brought it first, then leases it to the caller,
-- with a fresh token, unless it is finished or another worker's lease is still running.
-- Outcome: claimed / finished / busy / mismatch (event_id belongs to another ticket or kind).
drop function ticketing.claim_request(text, bigint, text, jsonb, interval);
create function ticketing.claim_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb, p_lease interval)
returns table (outcome text, status text, attempts integer, meta jsonb, lease_token uuid)
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

-- A transient fault: the request stays pending and the holder gives its lease back for the next attempt.
-- False when the token is not the request's (the lease ran out and another worker took it).
drop function ticketing.release_request(text, text);
create function ticketing.release_request(p_event_id text, p_token uuid, p_error text) returns boolean
language sql
set search_path = ticketing, pg_temp
as $$
  update ticketing.ticket_requests
     set locked_until = null, lease_token = null, error = left(p_error, 2000), updated_at = clock_timestamp()
   where event_id = p_event_id and status = 'pending' and lease_token = p_token
  returning true;
$$;

-- The job's attempts ran out on a transient fault: the request is failed with an alert, recorded first if a
-- raw job brought it and nothing else did. Outcome: failed / finished / busy / mismatch.
create function ticketing.give_up_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb, p_reason text)
returns text
language plpgsql
set search_path = ticketing, pg_temp
as $$
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

-- The leased request row, locked, or null when p_token does not hold a lease on it (finished, or the lease
-- ran out and another worker took it). A null p_token stands for "no lease": valid while nobody holds one.
create function ticketing.lock_leased_request(p_event_id text, p_token uuid) returns ticketing.ticket_requests
language plpgsql
set search_path = ticketing, pg_temp
as $$
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

-- The change flow's first step on receipt: usable -> changing, audited like any transition, once the
-- request is known to carry a usable valid_end (so it can always be re-issued).
-- Outcome: applied / duplicate / rejected (request failed and alert raised) / finished (or not our lease).
drop function ticketing.begin_change(text);
create function ticketing.begin_change(p_event_id text, p_token uuid) returns text
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  r ticketing.ticket_requests := ticketing.lock_leased_request(p_event_id, p_token);
  v_outcome text;
  v_problem text;
begin
  if r.event_id is null or r.kind <> 'change' then
    return 'finished';
  end if;
  v_problem := ticketing.valid_end_problem(r.meta);
  if v_problem is not null then
    perform ticketing.fail_request(p_event_id, p_token, v_problem, true);
    return 'rejected';
  end if;
  select a.outcome into v_outcome
    from ticketing.apply_transitions(array[r.ticket_id], 'changing', p_event_id, 'ticket.change.requested', r.meta) a;
  if v_outcome in ('illegal', 'unknown') then
    perform ticketing.fail_request(p_event_id, p_token, ticketing.describe_refusal(r.ticket_id, 'changing'), true);
    return 'rejected';
  end if;
  return v_outcome;
end $$;

-- Applies the refund-processing / change-service decision in one transaction, for the lease holder. A target
-- status other than the kind's own (refund -> refunded, change -> changed), or one the state machine refuses
-- from the ticket's status, fails the request and raises an alert; the ticket is not touched. A change is
-- always re-issued: with the decision's valid_end, else with the request's own meta.valid_end.
-- Outcome: succeeded / rejected / finished (already decided, or the lease is not the caller's).
drop function ticketing.apply_decision(text, text, timestamptz, jsonb);
create function ticketing.apply_decision(p_event_id text, p_token uuid, p_target_status text, p_valid_end timestamptz, p_meta jsonb)
returns table (outcome text, completed_orders integer, cancelled_orders integer)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  r ticketing.ticket_requests := ticketing.lock_leased_request(p_event_id, p_token);
  v_expected text;
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
  v_meta := r.meta || coalesce(p_meta, '{}');
  v_expected := case r.kind when 'refund' then 'refunded' else 'changed' end;
  if p_target_status is distinct from v_expected then
    perform ticketing.fail_request(p_event_id, p_token,
      format('%s decision target_status %L is not %L', r.kind, p_target_status, v_expected), true);
    return query select 'rejected', 0, 0;
    return;
  end if;
  if r.kind = 'change' and v_valid_end is null then
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
    from ticketing.apply_transitions(array[r.ticket_id], v_expected, p_event_id, format('ticket.%s.decided', r.kind), v_meta) a;
  if v_outcome in ('illegal', 'unknown') then
    perform ticketing.fail_request(p_event_id, p_token, ticketing.describe_refusal(r.ticket_id, v_expected), true);
    return query select 'rejected', 0, 0;
    return;
  end if;

  if r.kind = 'change' then
    perform ticketing.apply_transitions(array[r.ticket_id], 'usable', p_event_id, 'ticket.reissued',
                                        v_meta || jsonb_build_object('valid_end', v_valid_end));
  end if;

  update ticketing.ticket_requests q
     set status = 'succeeded', error = null, locked_until = null, lease_token = null,
         updated_at = clock_timestamp(), finished_at = clock_timestamp()
   where q.event_id = p_event_id;
  return query select 'succeeded', v_completed, v_cancelled;
end $$;

-- The built-in approve policy in one transaction (see 8-…). The row lock held to the end keeps everyone else
-- out, so no lease is taken: the request row is written once when the job brought it first (recording it) and
-- once to finish it. A change whose meta.valid_end is unusable fails with an alert before the ticket moves.
-- Outcome: succeeded / rejected (request failed, alert raised) / unknown (no such ticket, request failed)
-- / finished / busy (another worker's live lease) / mismatch (event_id belongs to another ticket or kind).
create or replace function ticketing.approve_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb)
returns table (outcome text, target_status text, completed_orders integer, cancelled_orders integer)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  r ticketing.ticket_requests;
  v_target text := case p_kind when 'refund' then 'refunded' else 'changed' end;
  v_problem text;
  v_begun text;
begin
  insert into ticketing.ticket_requests (event_id, kind, ticket_id, meta)
  values (p_event_id, p_kind, p_ticket_id, coalesce(p_meta, '{}'))
  on conflict (event_id) do nothing;
  select * into r from ticketing.ticket_requests q where q.event_id = p_event_id for update;
  if r.kind <> p_kind or r.ticket_id <> p_ticket_id then
    return query select 'mismatch', v_target, 0, 0;
    return;
  elsif r.status <> 'pending' then
    return query select 'finished', v_target, 0, 0;
    return;
  elsif r.locked_until >= clock_timestamp() then
    return query select 'busy', v_target, 0, 0;
    return;
  end if;
  if not exists (select 1 from ticketing.tickets t where t.id = p_ticket_id) then
    perform ticketing.fail_request(p_event_id, null, format('unknown ticket %s', p_ticket_id), false);
    return query select 'unknown', v_target, 0, 0;
    return;
  end if;

  if p_kind = 'change' then
    v_begun := ticketing.begin_change(p_event_id, null);
    if v_begun in ('rejected', 'finished') then
      return query select v_begun, 'changing'::text, 0, 0;
      return;
    end if;
  end if;

  return query select d.outcome, v_target, d.completed_orders, d.cancelled_orders
                 from ticketing.apply_decision(p_event_id, null, v_target, null, '{}') d;
end $$;

-- The job of one request; the job key keeps one queued or running job per request. A job under that key that
-- is out of attempts (graphile-worker keeps it, as permanently failed) would swallow the new one: it is replaced.
create or replace function ticketing.enqueue_request_job(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb)
returns void
language plpgsql
set search_path = ticketing, pg_temp
as $$
begin
  perform graphile_worker.remove_job(j.key)
     from graphile_worker._private_jobs j
    where j.key = 'request:' || p_event_id and j.locked_at is null and j.attempts >= j.max_attempts;
  perform graphile_worker.add_job(format('ticket_%s_requested', p_kind),
                                  json_build_object('ticket_id', p_ticket_id, 'event_id', p_event_id, 'meta', p_meta),
                                  job_key => 'request:' || p_event_id, job_key_mode => 'unsafe_dedupe');
end $$;

-- The re-drive changes its signature (max_redrives, counts per kind): the old one goes here; the new one,
-- which also knows bulk refunds, is created once, in 14-bulk-refunds.sql.
drop function ticketing.redrive_requests(interval, integer);

revoke execute on all functions in schema ticketing from public;
