import type { Queryable } from "./queryable.ts";

/** Age in seconds of the oldest pending refund/change request; 0 when none is pending. */
export async function oldestPendingRequestSeconds(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ seconds: number }>("select ticketing.oldest_pending_request_seconds() as seconds");
  return Number(rows[0]?.seconds ?? 0);
}
