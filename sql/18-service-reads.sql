-- What the dispatcher reads about the outbox, as functions like every other query the daemon makes
-- (ticketing.harden() makes them the engine's, SECURITY DEFINER, executable by ticketing_daemon). Both read
-- the partial index of undelivered rows only.

-- The outbox_backlog and outbox_oldest_undelivered_seconds gauges: undelivered events, and the age of the
-- oldest of them (greatest() passes over a null: 0 when there is none).
create function ticketing.outbox_backlog(out undelivered bigint, out oldest_age_seconds double precision)
language sql
set search_path = ticketing, pg_temp
as $$
  select count(*), greatest(0, extract(epoch from clock_timestamp() - min(o.created_at))::float8)
    from ticketing.outbox o
   where o.published_at is null
$$;

-- Milliseconds until the earliest backed-off undelivered event becomes due; null when none waits. Events
-- already due are left out: they are claimable now, or wait behind another daemon's claim or a backed-off
-- event of their ticket, whose own due time wakes the dispatcher.
create function ticketing.ms_until_next_outbox_attempt() returns double precision
language sql
set search_path = ticketing, pg_temp
as $$
  select (extract(epoch from min(o.next_attempt_at) - clock_timestamp()) * 1000)::float8
    from ticketing.outbox o
   where o.published_at is null and o.next_attempt_at > now()
$$;
