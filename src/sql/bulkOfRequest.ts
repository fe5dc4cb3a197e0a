import type { Queryable } from "./queryable.ts";

/** The bulk a request_refunds call recorded, found through one of the tickets it queued. */
export async function bulkOfRequest(db: Queryable, eventId: string, ticketId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ bulk_id: string | null }>(
    "select ticketing.bulk_of_request($1, $2::bigint)::text as bulk_id",
    [eventId, ticketId],
  );
  return rows[0]?.bulk_id ?? undefined;
}
