-- One batch of the expiry sweep: picks up to p_batch_size usable tickets past valid_end (minus the
-- grace period) in (valid_end, id) order, skipping tickets other transactions hold, and expires them
-- through the state machine in one set-based pass. Each call is its own transaction when called on its own.
--
-- p_after_valid_end / p_after_id: resume strictly after the last ticket of the caller's previous batch.
-- The tickets before it were expired by earlier batches, and the index entries they leave behind stay
-- until vacuum: starting at the front every time would step over all of them again, a cost growing
-- with the backlog already swept. A sweep therefore resumes, and makes one last pass from the front
-- (both null) to pick up what it skipped or what became due behind it. last_valid_end / last_id is
-- where the next batch resumes (null when nothing was expired).
create function ticketing.expire_batch(
  p_batch_size integer, p_grace interval default '0 seconds',
  p_after_valid_end timestamptz default null, p_after_id bigint default null
)
returns table (expired integer, completed_orders integer, cancelled_orders integer, last_valid_end timestamptz, last_id bigint)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_ids bigint[];
  v_valid_ends timestamptz[];
begin
  if p_batch_size is null or p_batch_size < 1 or p_batch_size > 100000 then
    perform ticketing.invalid_argument(format('batch_size must be between 1 and 100000 (got %s)', p_batch_size));
  end if;
  if (p_after_valid_end is null) <> (p_after_id is null) then
    perform ticketing.invalid_argument('p_after_valid_end and p_after_id go together');
  end if;
  -- These locks are the ones apply_locked_transitions needs. SKIP LOCKED never waits, so concurrent
  -- sweeps never deadlock on tickets.
  -- Two statements rather than one with an OR, so each keeps the index range as its plan.
  if p_after_id is null then
    select array_agg(p.id order by p.valid_end, p.id), array_agg(p.valid_end order by p.valid_end, p.id)
      into v_ids, v_valid_ends
      from (select k.id, k.valid_end from ticketing.tickets k
             where k.status = 'usable' and k.valid_end < now() - coalesce(p_grace, '0 seconds')
             order by k.valid_end, k.id
             limit p_batch_size
               for update skip locked) p;
  else
    select array_agg(p.id order by p.valid_end, p.id), array_agg(p.valid_end order by p.valid_end, p.id)
      into v_ids, v_valid_ends
      from (select k.id, k.valid_end from ticketing.tickets k
             where k.status = 'usable' and k.valid_end < now() - coalesce(p_grace, '0 seconds')
               and (k.valid_end, k.id) > (p_after_valid_end, p_after_id)
             order by k.valid_end, k.id
             limit p_batch_size
               for update skip locked) p;
  end if;
  if v_ids is null then
    return query select 0, 0, 0, null::timestamptz, null::bigint;
    return;
  end if;
  return query
    select (count(*) filter (where a.outcome = 'applied'))::integer,
           coalesce(max(a.completed_orders), 0), coalesce(max(a.cancelled_orders), 0),
           v_valid_ends[cardinality(v_ids)], v_ids[cardinality(v_ids)]
      from ticketing.apply_locked_transitions(v_ids, 'expired', 'expire', 'expire_tickets', '{}') a;
end $$;

-- What a sweep would do now, without writing anything (ticket-lifecycle expire --dry-run).
create function ticketing.expiry_backlog(p_grace interval default '0 seconds')
returns table (tickets bigint, oldest_valid_end timestamptz)
language sql stable
set search_path = ticketing, pg_temp
as $$
  select count(*), min(valid_end) from ticketing.tickets
   where status = 'usable' and valid_end < now() - coalesce(p_grace, '0 seconds');
$$;
