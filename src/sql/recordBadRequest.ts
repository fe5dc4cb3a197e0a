import type { RequestKind } from "../adapters/ruleService.ts";
import type { Queryable } from "./queryable.ts";

/**
 * A job whose payload names a ticket and an event but is otherwise invalid: the request is recorded
 * as failed with the reason (unless that event_id is already known), so operators see it in one place.
 */
export async function recordBadRequest(
  db: Queryable,
  kind: RequestKind,
  ticketId: number,
  eventId: string,
  reason: string,
): Promise<void> {
  await db.query(
    `insert into ticketing.ticket_requests (event_id, kind, ticket_id, status, error, finished_at)
     values ($1, $2, $3, 'failed', left($4, 2000), now())
     on conflict (event_id) do nothing`,
    [eventId, kind, ticketId, reason],
  );
}
