import type { Queryable } from "../sql/queryable.ts";

/** One claimed outbox row, ready to send: its HTTP body or its pg_notify payload is built in SQL. */
export interface OutboxEvent {
  /** bigint ids stay strings: they go back to SQL as they came and are never computed with. */
  id: string;
  eventId: string;
  type: string;
  ticketId: string | null;
  orderId: string | null;
  /** Failed attempts so far. */
  attempts: number;
  /**
   * What the sink sends, built in SQL: for HTTP the body {event_id, type, ticket_id, order_id, seq,
   * occurred_at, payload}; for pg_notify the payload {event_id, type, ticket_id, order_id, seq}.
   */
  message: string;
}

/** Which message the claim builds: only the one the sink sends (the other would cost SQL and memory for nothing). */
export type MessageKind = "http" | "notify";

// Opens a round's transaction with the planner settings the claim needs, in one round trip.
//
// Every ORDER BY ... LIMIT in the claim is meant to be read straight off an index: the scan off
// outbox_undelivered_idx, both per-row sibling checks off outbox_ticket_undelivered_idx (ticket_id, id).
// Statistics cannot be trusted to pick those: when the outbox was last analyzed with no undelivered row
// (after a drain, the usual state) and a burst then arrives, the planner believes both partial indexes are
// empty, costs a full walk of one as free, and a 1M-event backlog takes minutes per claim (an unanalyzed
// outbox instead sorts the whole due set first: seconds). With sorts disabled, the index that yields the
// order is the only plan left that needs none, whatever the statistics say. The claim's own two sorts
// (under 1,000 rows each) cannot be avoided and stay. jit is off because PostgreSQL before 18 prices a
// disabled sort at 1e10, which would JIT-compile every claim (about a second of CPU). `set local` ends with
// the transaction; the round's other statements update by id and need no sort either.
export const BEGIN_CLAIM_TRANSACTION =
  "begin; set local enable_sort = off; set local enable_incremental_sort = off; set local jit = off";

// Locks up to $1 due events for the caller's transaction, earliest due first; $2 picks the message built
// for each: the HTTP body (true) or the pg_notify payload (false).
//
// Per-ticket order, across daemons too: an event is delivered only when every earlier undelivered event
// of its ticket is delivered before it, in this round or an earlier one. The final WHERE keeps an event
// only if all its ticket's earlier undelivered events are in this claim too: it must be its ticket's
// (claimed_before + 1)th undelivered event. The others (an earlier sibling not due yet, held by another
// daemon right now, or past the limit) stay locked until commit and are taken by a later round.
//
// The scan follows outbox_undelivered_idx (next_attempt_at, id): it reads only due undelivered rows and
// stops after $1, however many delivered rows are kept. Its sibling check keeps that order safe: it skips
// an event while an earlier sibling is due later than it (a retried event), so whenever an event is
// within the limit, its ticket's first undelivered event is too. Without it, events queued behind a
// retried event would sort first and could fill every batch while that event never made it in. Such an
// event simply goes one round after the retried one.
//
// Both sibling checks are scalar subqueries with ORDER BY (ticket_id, id) LIMIT 1, not EXISTS or count(*):
// the planner can neither turn them into a join nor drop the ordering, so each is one descent of
// outbox_ticket_undelivered_idx reading at most the ticket's earlier undelivered entries (see
// BEGIN_CLAIM_TRANSACTION for why that plan is certain).
//
// The JSON is built here so bigint ids keep every digit, and occurred_at is UTC whatever the session's
// time zone.
export const CLAIM_SQL = `
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
   limit $1
   for update skip locked
), ranked as (
  select d.*, row_number() over (partition by d.ticket_id order by d.id) - 1 as claimed_before
    from due d
)
select d.id, d.event_id as "eventId", d.type, d.ticket_id as "ticketId", d.order_id as "orderId", d.attempts,
       case when $2::boolean
            then json_build_object('event_id', d.event_id, 'type', d.type, 'ticket_id', d.ticket_id, 'order_id', d.order_id,
                                   'seq', d.seq,
                                   'occurred_at', to_char(d.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                   'payload', d.payload)
            else json_build_object('event_id', d.event_id, 'type', d.type, 'ticket_id', d.ticket_id, 'order_id', d.order_id,
                                   'seq', d.seq)
       end::text as message
  from ranked d
 where d.ticket_id is null
    or (select e.id from ticketing.outbox e
         where e.ticket_id = d.ticket_id and e.published_at is null
         order by e.ticket_id, e.id
         offset d.claimed_before limit 1) = d.id
 order by d.id`;

/**
 * Claims the next events to deliver; run it inside the transaction that records their outcome, opened
 * with BEGIN_CLAIM_TRANSACTION. The rows come back in OutboxEvent's shape (aliased in SQL, not copied:
 * a round's events live as long as the round, and every byte of them that outlives a young-generation
 * collection is old-space garbage, which is what sets the daemon's peak RSS).
 */
export async function claimEvents(db: Queryable, limit: number, kind: MessageKind): Promise<OutboxEvent[]> {
  // Named, so each connection plans it once rather than every round (a few ms of server CPU each time).
  const { rows } = await db.query<OutboxEvent>({
    name: "ticketing-outbox-claim",
    text: CLAIM_SQL,
    values: [limit, kind === "http"],
  });
  return rows;
}
