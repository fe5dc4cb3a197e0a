-- The expiry ceiling: the same logical writes as the sweep (status usable -> expired with seq + 1, one
-- audit row and one outbox event per ticket, every order left with no open ticket completed with its
-- event), made the fastest way we know, for comparison with the daemon (bench/expiry.ts).
-- What makes it fast, and why each is fair for a one-off bulk job on a quiet database:
--   * one statement (data-modifying CTEs) for :chunk tickets of the orders whose id % :parts = :part,
--     run by :parts sessions at once, each its own transaction (no locks to take first: UPDATE locks);
--   * run on the contract's schema only (bench/support/contractSchema.sql): the indexes the contract
--     names, no guard trigger, no foreign key but tickets.order_id (which a status update never checks);
--   * orders completed from the statement's own snapshot: exact because nothing else writes meanwhile.
with picked as (
  select t.id, t.order_id
    from ticketing.tickets t
   where t.status = 'usable' and t.valid_end < now() and t.order_id % :parts = :part
   order by t.valid_end, t.id
   limit :chunk
), upd as (
  update ticketing.tickets t
     set status = 'expired', seq = t.seq + 1, updated_at = clock_timestamp()
    from picked p
   where t.id = p.id
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
), chunk as (
  select p.order_id, count(*) as n from picked p group by p.order_id
), finished as (
  -- Orders whose open tickets (in this statement's snapshot) are exactly the ones this chunk expires.
  select c.order_id as id
    from chunk c
   cross join lateral (select count(*) as n
                         from ticketing.tickets t
                        where t.order_id = c.order_id and t.status in ('usable', 'changing', 'changed')) open
   where open.n = c.n
), completed as (
  update ticketing.orders o
     set status = 'completed', completed_at = clock_timestamp()
    from finished f
   where o.id = f.id and o.status = 'open'
  returning o.id, o.completed_at
), order_events as (
  insert into ticketing.outbox (event_id, type, order_id, payload)
  select format('order:%s:completed', c.id), 'order.completed', c.id,
         jsonb_build_object('order_id', c.id, 'status', 'completed', 'occurred_at', c.completed_at)
    from completed c
)
select count(*)::integer as expired from upd;
