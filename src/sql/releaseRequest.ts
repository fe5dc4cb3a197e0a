import type { Queryable } from "./queryable.ts";

/** A transient fault: keep the request pending, give the lease back, remember the error. */
export async function releaseRequest(db: Queryable, eventId: string, error: string): Promise<void> {
  await db.query("select ticketing.release_request($1, $2)", [eventId, error]);
}
