import type { Queryable } from "../sql/queryable.ts";

/** One claimed outbox row, ready to send: the HTTP body and the pg_notify payload are built in SQL. */
export interface OutboxEvent {
  /** bigint ids stay strings: they go back to SQL as they came and are never computed with. */
  id: string;
  eventId: string;
  type: string;
  ticketId: string | null;
  orderId: string | null;
  /** Failed attempts so far. */
  attempts: number;
  /** The HTTP body: {event_id, type, ticket_id, order_id, seq, occurred_at, payload}. */
  body: string;
  /** The pg_notify payload: {event_id, type, ticket_id, order_id, seq}. */
  notice: string;
}

// Locks up to $1 due events for the caller's transaction, earliest due first.
//
// Per-ticket order, across daemons too: an event is delivered only when every earlier undelivered event
// of its ticket is delivered before it, in this round or an earlier one. The final WHERE keeps an event
// only if all its ticket's earlier undelivered events are in this claim too (as many claimed before it
// as there are undelivered before it); the others (an earlier sibling not due yet, held by another
// daemon right now, or past the limit) stay locked until commit and are taken by a later round. That
// check is a per-row count on outbox_ticket_undelivered_idx: as an anti-join the planner would scan the
// whole outbox.
//
// The scan follows outbox_undelivered_idx (next_attempt_at, id): it reads only due undelivered rows and
// stops after $1, however many delivered rows are kept. Its NOT EXISTS keeps that order safe: it skips
// an event while an earlier sibling is due later than it (a retried event), so whenever an event is
// within the limit, its ticket's first undelivered event is too. Without it, events queued behind a
// retried event would sort first and could fill every batch while that event never made it in. Such an
// event simply goes one round after the retried one.
//
// The JSON is built here so bigint ids keep every digit, and occurred_at is UTC whatever the session's
// time zone.
const CLAIM_SQL = `
with due as (
  select o.id, o.event_id, o.type, o.ticket_id, o.order_id, o.seq, o.payload, o.created_at, o.attempts
    from ticketing.outbox o
   where o.published_at is null and o.next_attempt_at <= now()
     and not exists (select 1 from ticketing.outbox e
                      where e.ticket_id = o.ticket_id and e.published_at is null and e.id < o.id
                        and e.next_attempt_at > o.next_attempt_at)
   order by o.next_attempt_at, o.id
   limit $1
   for update skip locked
), ranked as (
  select d.*, row_number() over (partition by d.ticket_id order by d.id) - 1 as claimed_before
    from due d
)
select d.id, d.event_id, d.type, d.ticket_id, d.order_id, d.attempts,
       json_build_object('event_id', d.event_id, 'type', d.type, 'ticket_id', d.ticket_id, 'order_id', d.order_id,
                         'seq', d.seq,
                         'occurred_at', to_char(d.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                         'payload', d.payload)::text as body,
       json_build_object('event_id', d.event_id, 'type', d.type, 'ticket_id', d.ticket_id, 'order_id', d.order_id,
                         'seq', d.seq)::text as notice
  from ranked d
 where d.ticket_id is null
    or d.claimed_before = (select count(*) from ticketing.outbox e
                            where e.ticket_id = d.ticket_id and e.published_at is null and e.id < d.id)
 order by d.id`;

/** Claims the next events to deliver; run it inside the transaction that records their outcome. */
export async function claimEvents(db: Queryable, limit: number): Promise<OutboxEvent[]> {
  const { rows } = await db.query<{
    id: string;
    event_id: string;
    type: string;
    ticket_id: string | null;
    order_id: string | null;
    attempts: number;
    body: string;
    notice: string;
  }>(CLAIM_SQL, [limit]);
  return rows.map((r) => ({
    id: r.id,
    eventId: r.event_id,
    type: r.type,
    ticketId: r.ticket_id,
    orderId: r.order_id,
    attempts: r.attempts,
    body: r.body,
    notice: r.notice,
  }));
}
