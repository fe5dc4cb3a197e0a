-- Event delivery: every write the dispatcher makes to ticketing.outbox is one of these functions (the
-- claim, recording outcomes, the pg_notify publish, pruning), so the daemon's role needs EXECUTE only and
-- a row's life from insert to prune reads here. Events go out as CloudEvents 1.0 in structured mode,
-- built in SQL so bigint ids keep every digit.

-- One claimed event, ready to send: `message` is its CloudEvent JSON, the exact bytes that are signed.
create type ticketing.outbox_delivery as (
  id        bigint,
  event_id  text,
  type      text,
  ticket_id bigint,
  order_id  bigint,
  attempts  integer,
  message   text
);

-- The CloudEvent of one outbox row. `subject` names what the event is about (ticket/<id>, order/<id>,
-- alert/<id>); `sequence` is the ticket's transition number as the CloudEvents sequence extension wants
-- it, a string whose lexicographic order is the order of the events: zero-padded to the 19 digits of the
-- largest bigint. Attributes a row has no value for are left out (CloudEvents has no null attribute).
-- Without p_with_data the event goes without `data` and says so with `dataomitted: true` (the
-- pg_notify sink's way out of its payload limit). `time` is RFC 3339 in UTC whatever the session's zone.
-- Written as text: every string goes through to_json (exact JSON escaping) and the payload is jsonb's
-- own output, so it is valid JSON with every digit of a bigint; measured at a quarter of the CPU of
-- building a jsonb object and stripping its nulls (4 against 17 µs per event). No SET clause, so the
-- planner inlines it into the claim.
create function ticketing.outbox_cloudevent(
  p_event_id text, p_type text, p_ticket_id bigint, p_order_id bigint, p_seq bigint, p_payload jsonb,
  p_created_at timestamptz, p_source text, p_with_data boolean default true)
returns text
language sql stable
as $$
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

-- Delay before the next attempt of an event that has now failed p_attempts times: doubling from p_base_ms,
-- capped at p_max_ms, scaled by a random factor in [0.5, 1) so events that failed together (a sink
-- outage) do not all come back in the same instant.
create function ticketing.outbox_retry_delay(p_attempts integer, p_base_ms float8, p_max_ms float8)
returns interval
language sql volatile
as $$
  select least(p_max_ms, p_base_ms * 2 ^ least(greatest(p_attempts - 1, 0), 40)) * (0.5 + random() / 2)
         * interval '1 millisecond';
$$;

-- Sets an event aside that could not be delivered for a reason of its own (its send throws, pg_notify
-- refuses it): the attempt counts, it waits for its backoff, and one alert per event names it.
-- The other events of its round go on.
create function ticketing.set_aside_outbox_event(p_id bigint, p_error text, p_backoff_base_ms float8, p_backoff_max_ms float8)
returns void
language plpgsql
set search_path = ticketing, pg_temp
as $$
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

-- Locks up to p_limit due events for the caller's transaction, earliest due first, and returns them with
-- their CloudEvent; run it inside the transaction that records their outcome.
--
-- Per-ticket order, across daemons too: an event is delivered only when every earlier undelivered event
-- of its ticket is delivered before it, in this round or an earlier one. The final WHERE keeps an event
-- only if all its ticket's earlier undelivered events are in this claim too: it must be its ticket's
-- (claimed_before + 1)th undelivered event. The others (an earlier sibling not due yet, held by another
-- daemon right now, or past the limit) stay locked until commit and are taken by a later round.
--
-- The scan follows outbox_undelivered_idx (next_attempt_at, id): it reads only due undelivered rows and
-- stops after p_limit, however many delivered rows are kept. Its sibling check keeps that order safe: it
-- skips an event while an earlier sibling is due later than it (a retried event), so whenever an event is
-- within the limit, its ticket's first undelivered event is too. Without it, events queued behind a
-- retried event would sort first and could fill every batch while that event never made it in. Such an
-- event simply goes one round after the retried one.
--
-- Both sibling checks are scalar subqueries with ORDER BY (ticket_id, id) LIMIT 1, not EXISTS or count(*):
-- the planner can neither turn them into a join nor drop the ordering, so each is one descent of
-- outbox_ticket_undelivered_idx reading at most the ticket's earlier undelivered entries.
--
-- Every ORDER BY ... LIMIT here is meant to be read straight off an index. Statistics cannot be trusted to
-- pick those: when the outbox was last analyzed with no undelivered row (after a drain, the usual state)
-- and a burst then arrives, the planner believes both partial indexes are empty, costs a full walk of one
-- as free, and a 1M-event backlog takes minutes per claim (an unanalyzed outbox instead sorts the whole due
-- set first: seconds). With sorts disabled (this function's SET clause), the index that yields the order is
-- the only plan left that needs none, whatever the statistics say. The claim's own two sorts (under 1,000
-- rows each) cannot be avoided and stay. jit is off because PostgreSQL before 18 prices a disabled sort at
-- 1e10, which would JIT-compile every claim (about a second of CPU). PL/pgSQL keeps the plan per
-- connection, so a claim is planned once, not every round.
--
-- Building a message cannot fail for any row the table holds (JSON of text, bigints, a timestamp and a
-- jsonb); what can fail for one event is its send, and that sets only that event aside.
create function ticketing.claim_outbox(p_limit integer, p_source text, p_backoff_base_ms float8, p_backoff_max_ms float8)
returns setof ticketing.outbox_delivery
language plpgsql
set search_path = ticketing, pg_temp
set enable_sort = off
set enable_incremental_sort = off
set jit = off
as $$
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

-- A round's outcomes, set-based, in the claiming transaction. Delivered events get published_at (and an
-- alert that named one of them is cleared). Failed ones count the attempt, keep the error (never a URL:
-- the daemon's texts carry none) and wait for their next attempt: the backoff, and not before the
-- receiver's Retry-After (p_not_before_ms, already bounded by the caller). Nothing is ever given up on.
-- p_kinds says why each failed: 'failed' (an answer that is not a 2xx, a timeout, a cut connection),
-- 'gone' (410 Gone: one alert, delivery_gone, until a later 2xx clears it), 'poison' (the send threw
-- before any answer: the event is set aside with an alert naming it).
create function ticketing.record_outbox_outcomes(
  p_delivered bigint[], p_failed bigint[], p_errors text[], p_not_before_ms float8[], p_kinds text[],
  p_backoff_base_ms float8, p_backoff_max_ms float8)
returns void
language plpgsql
set search_path = ticketing, pg_temp
as $$
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

-- What pg_notify sends for a claimed event: its CloudEvent, or without its data when that is too long.
create function ticketing.outbox_notification(p_id bigint, p_message text, p_source text)
returns text
language sql stable
as $$
  select case when octet_length(p_message) < 8000 then p_message
              else (select ticketing.outbox_cloudevent(o.event_id, o.type, o.ticket_id, o.order_id, o.seq, o.payload,
                                                       o.created_at, p_source, false)
                      from ticketing.outbox o where o.id = p_id) end;
$$;

-- The sink without NOTIFICATION_URL, in one call: claims like ticketing.claim_outbox, marks the events
-- published and sends each one's CloudEvent with pg_notify('ticketing_events', ...), in id order (one
-- ticket's notifications keep their order). Listeners hear exactly the events marked published with
-- them: notifications go out at commit, never for a rolled-back round. pg_notify refuses payloads of
-- 8000 bytes or more: such an event is sent without its data (`dataomitted: true`; the full event is in
-- ticketing.outbox by its id until pruned). An event that cannot be sent even so is set aside like any
-- poison, and the others go out. Returns how many were published.
create function ticketing.publish_outbox_by_notify(p_limit integer, p_source text, p_backoff_base_ms float8, p_backoff_max_ms float8)
returns integer
language plpgsql
set search_path = ticketing, pg_temp
as $$
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

-- Deletes up to p_chunk delivered events published more than p_retention_hours ago, oldest first (short
-- statements, no long lock on a big table); the caller repeats while a whole chunk went. Undelivered
-- events are never deleted: published_at is null for them.
create function ticketing.prune_outbox(p_retention_hours integer, p_chunk integer)
returns integer
language sql
set search_path = ticketing, pg_temp
as $$
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

revoke execute on all functions in schema ticketing from public;
