-- One batch of the expiry sweep: picks up to p_batch_size usable tickets past valid_end (minus the
-- grace period), skipping tickets other transactions hold, and expires them through the state machine
-- in one set-based pass. Each call is its own transaction when called on its own.
create function ticketing.expire_batch(p_batch_size integer, p_grace interval default '0 seconds')
returns table (expired integer, completed_orders integer, cancelled_orders integer)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_ids bigint[];
begin
  if p_batch_size is null or p_batch_size < 1 or p_batch_size > 100000 then
    perform ticketing.invalid_argument(format('batch_size must be between 1 and 100000 (got %s)', p_batch_size));
  end if;
  select array_agg(t.id) into v_ids
    from (select k.id from ticketing.tickets k
           where k.status = 'usable' and k.valid_end < now() - coalesce(p_grace, '0 seconds')
           order by k.valid_end
           limit p_batch_size
           for update skip locked) t;
  if v_ids is null then
    return query select 0, 0, 0;
    return;
  end if;
  return query
    select (count(*) filter (where a.outcome = 'applied'))::integer,
           coalesce(max(a.completed_orders), 0), coalesce(max(a.cancelled_orders), 0)
      from ticketing.apply_transitions(v_ids, 'expired', 'expire', 'expire_tickets', '{}') a;
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
