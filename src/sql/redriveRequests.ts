import type { RequestKind } from "../requests/ticketRequest.ts";
import type { Queryable } from "./queryable.ts";

/**
 * For each request left pending with no live lease for longer than `olderThanSeconds`: a fresh job when its
 * job is gone or dead, or, after `maxRedrives` of those, the request failed with an alert. Counts per kind.
 */
export async function redriveRequests(
  db: Queryable,
  olderThanSeconds: number,
  limit: number,
  maxRedrives: number,
): Promise<Array<{ kind: RequestKind; redriven: number; failed: number }>> {
  const { rows } = await db.query<{ kind: RequestKind; redriven: string; failed: string }>(
    "select * from ticketing.redrive_requests(make_interval(secs => $1), $2, $3)",
    [olderThanSeconds, limit, maxRedrives],
  );
  return rows.map((row) => ({ kind: row.kind, redriven: Number(row.redriven), failed: Number(row.failed) }));
}
