import type { BackoffPolicy } from "../backoff.ts";
import type { Queryable } from "./queryable.ts";

/** One claimed outbox row, ready to send: its CloudEvent is built in SQL (ticketing.claim_outbox). */
export interface OutboxEvent {
  /** bigint ids stay strings: they go back to SQL as they came and are never computed with. */
  id: string;
  eventId: string;
  type: string;
  ticketId: string | null;
  orderId: string | null;
  /** Failed attempts so far. */
  attempts: number;
  /** The CloudEvent JSON, the exact bytes sent and signed. */
  message: string;
}

/** What every claim needs besides its size: the CloudEvents source, and the backoff of an event set aside. */
export interface ClaimSettings {
  source: string;
  backoff: BackoffPolicy;
}

/**
 * Claims the next events to deliver (ticketing.claim_outbox: per-ticket order, SKIP LOCKED, poison set
 * aside); run it inside the transaction that records their outcome. The rows come back in OutboxEvent's
 * shape (aliased in SQL, not copied: a round's events live as long as the round, and every byte of them
 * that outlives a young-generation collection is old-space garbage, which is what sets the daemon's peak RSS).
 */
export async function claimEvents(db: Queryable, limit: number, settings: ClaimSettings): Promise<OutboxEvent[]> {
  const { rows } = await db.query<OutboxEvent>({
    name: "ticketing-outbox-claim",
    text: `select id, event_id as "eventId", type, ticket_id as "ticketId", order_id as "orderId", attempts, message
             from ticketing.claim_outbox($1, $2, $3, $4)`,
    values: [limit, settings.source, settings.backoff.baseMs, settings.backoff.maxMs],
  });
  return rows;
}
