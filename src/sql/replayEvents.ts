import type { Queryable } from "./queryable.ts";

export interface EventFilter {
  ticketId?: string;
  orderId?: string;
  type?: string;
  since?: string;
  until?: string;
}

export interface ReplayedEvent {
  id: string;
  event_id: string;
  type: string;
  ticket_id: string | null;
  order_id: string | null;
  created_at: Date;
}

/** Delivered events marked undelivered and due now; with dryRun, only the ones that would be. */
export async function replayEvents(db: Queryable, filter: EventFilter, dryRun: boolean): Promise<ReplayedEvent[]> {
  const { rows } = await db.query<ReplayedEvent>(
    `select id, event_id, type, ticket_id, order_id, created_at
       from ticketing.replay_events(p_ticket_id => $1, p_order_id => $2, p_type => $3,
                                    p_since => $4, p_until => $5, p_dry_run => $6)`,
    [filter.ticketId, filter.orderId, filter.type, filter.since, filter.until, dryRun],
  );
  return rows;
}
