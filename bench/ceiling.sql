-- The reference the expiry benchmark compares the daemon with: the fastest way found to expire tickets
-- with the writes the state machine makes (issue 5: "one set-based SQL statement per 10,000-ticket chunk").
-- One statement per chunk of :chunk usable tickets past valid_end, data-modifying CTEs:
-- tickets usable -> expired (seq + 1), one audit row and one outbox event per ticket, the chunk's open
-- orders locked in id order, and every order left with no usable ticket completed with its event.
-- It keeps what a one-off bulk job may drop: no duplicate check, no per-call argument checks, one
-- snapshot for the order recompute (exact here because nothing else writes meanwhile).
-- The guard triggers admit it because the transaction runs as ticketing_engine, as the state machine's
-- own functions do (bench/expiry.ts runs: begin; set_config('role', ...); this; commit).
with picked as (
  select t.id, t.order_id
    from ticketing.tickets t
   where t.status = 'usable' and t.valid_end < now()
   order by t.valid_end
   limit :chunk
   for update skip locked
), upd as (
  update ticketing.tickets t
     set status = 'expired', seq = t.seq + 1, updated_at = clock_timestamp()
   where t.id = any(array(select p.id from picked p))
  returning t.id, t.order_id, t.seq, t.valid_end
), aud as (
  insert into ticketing.ticket_status_audit (ticket_id, seq, prev_status, new_status, event_id, event, meta)
  select u.id, u.seq, 'usable', 'expired', 'expire', 'expire_tickets', '{}' from upd u
), ev as (
  insert into ticketing.outbox (event_id, type, ticket_id, order_id, seq, payload)
  select format('ticket:%s:%s', u.id, u.seq), 'ticket.expired', u.id, u.order_id, u.seq,
         jsonb_build_object('ticket_id', u.id, 'order_id', u.order_id, 'seq', u.seq, 'prev_status', 'usable',
                            'status', 'expired', 'valid_end', u.valid_end, 'cause_event_id', 'expire',
                            'event', 'expire_tickets', 'meta', '{}'::jsonb, 'occurred_at', clock_timestamp())
    from upd u
), locked_orders as (
  select o.id
    from ticketing.orders o
   where o.id = any(array(select distinct p.order_id from picked p)) and o.status = 'open'
   order by o.id
   for update
), finished as (
  -- Orders whose open tickets (in this statement's snapshot) are exactly the ones this chunk expires.
  select lo.id
    from locked_orders lo
    join (select p.order_id, count(*) as n from picked p group by p.order_id) chunk on chunk.order_id = lo.id
   cross join lateral (select count(*) as n
                         from ticketing.tickets t
                         join ticketing.ticket_statuses s on s.status = t.status
                        where t.order_id = lo.id and not s.terminal) open
   where open.n = chunk.n
), completed as (
  update ticketing.orders o
     set status = 'completed', completed_at = clock_timestamp()
   where o.id = any(array(select f.id from finished f))
  returning o.id, o.completed_at
), order_events as (
  insert into ticketing.outbox (event_id, type, order_id, payload)
  select format('order:%s:completed', c.id), 'order.completed', c.id,
         jsonb_build_object('order_id', c.id, 'status', 'completed', 'occurred_at', c.completed_at)
    from completed c
)
select count(*)::integer as expired from upd;
