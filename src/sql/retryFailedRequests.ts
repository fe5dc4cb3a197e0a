import type { Queryable } from "./queryable.ts";

export interface RequestFilter {
  eventId?: string;
  ticketId?: string;
  orderId?: string;
  failedSince?: string;
  failedUntil?: string;
}

export interface RetriedRequest {
  event_id: string;
  kind: string;
  ticket_id: string;
  failed_at: Date;
  error: string | null;
}

/** Failed requests back to pending and queued again; with dryRun, only the ones that would be. */
export async function retryFailedRequests(
  db: Queryable,
  filter: RequestFilter,
  dryRun: boolean,
): Promise<RetriedRequest[]> {
  const { rows } = await db.query<RetriedRequest>(
    `select event_id, kind, ticket_id, failed_at, error
       from ticketing.retry_failed_requests(p_event_id => $1, p_ticket_id => $2, p_order_id => $3,
                                            p_failed_since => $4, p_failed_until => $5, p_dry_run => $6)`,
    [filter.eventId, filter.ticketId, filter.orderId, filter.failedSince, filter.failedUntil, dryRun],
  );
  return rows;
}
