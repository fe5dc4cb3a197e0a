import type { Queryable } from "./queryable.ts";

/**
 * Enqueues a job again for each request left pending with no live lease for longer than `olderThanSeconds`
 * (its job was lost to a crash or a bug). The job key makes it a no-op while that request's job is queued.
 */
export async function redriveRequests(db: Queryable, olderThanSeconds: number, limit: number): Promise<number> {
  const { rows } = await db.query<{ redriven: string }>(
    "select ticketing.redrive_requests(make_interval(secs => $1), $2) as redriven",
    [olderThanSeconds, limit],
  );
  return Number(rows[0]?.redriven ?? 0);
}
