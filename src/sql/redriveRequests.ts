import type { Queryable } from "./queryable.ts";

/**
 * For each request left pending with no live lease for longer than `olderThanSeconds`: a fresh job when its
 * job is gone or dead, or, after `maxRedrives` of those, the request failed with an alert.
 */
export async function redriveRequests(
  db: Queryable,
  olderThanSeconds: number,
  limit: number,
  maxRedrives: number,
): Promise<{ redriven: number; failed: number }> {
  const { rows } = await db.query<{ redriven: string; failed: string }>(
    "select * from ticketing.redrive_requests(make_interval(secs => $1), $2, $3)",
    [olderThanSeconds, limit, maxRedrives],
  );
  return { redriven: Number(rows[0]?.redriven ?? 0), failed: Number(rows[0]?.failed ?? 0) };
}
