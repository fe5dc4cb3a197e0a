import type { Queryable } from "./queryable.ts";

/**
 * A transient fault: keep the request pending, give the lease back, remember the error. False when the lease
 * is no longer this worker's (it ran out and another worker claimed the request).
 */
export async function releaseRequest(
  db: Queryable,
  eventId: string,
  leaseToken: string,
  error: string,
): Promise<boolean> {
  const { rows } = await db.query<{ released: boolean | null }>(
    "select ticketing.release_request($1, $2, $3) as released",
    [eventId, leaseToken, error],
  );
  return rows[0]?.released === true;
}
