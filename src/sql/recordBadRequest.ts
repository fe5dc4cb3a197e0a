import type { RequestKind } from "../requests/ticketRequest.ts";
import type { Queryable } from "./queryable.ts";

/**
 * A job whose payload names a ticket and an event but is otherwise invalid: the request is recorded
 * as failed with the reason (unless that event_id is already known), so operators see it in one place.
 */
export async function recordBadRequest(
  db: Queryable,
  kind: RequestKind,
  ticketId: string,
  eventId: string,
  reason: string,
): Promise<void> {
  await db.query("select ticketing.record_bad_request($1, $2, $3, $4)", [kind, ticketId, eventId, reason]);
}
