import type { Queryable } from "./queryable.ts";

export interface RateLimit {
  name: string;
  /** Starts per second; undefined: no rate limit. */
  rate: number | undefined;
  /** Calls in flight at once; undefined: no concurrency limit. */
  concurrency: number | undefined;
}

/**
 * A start under the shared limit (sql/14-bulk-refunds.sql): the slot taken, or how long to wait before
 * asking again. The slot is leased to `holder` for `leaseSeconds`.
 */
export async function acquireRateSlot(
  db: Queryable,
  limit: RateLimit,
  holder: string,
  leaseSeconds: number,
): Promise<{ slot: number } | { waitMs: number }> {
  const { rows } = await db.query<{ slot: number | null; wait_ms: number }>(
    "select slot, wait_ms from ticketing.acquire_rate_slot($1, $2, $3, $4, make_interval(secs => $5))",
    [limit.name, limit.rate ?? null, limit.concurrency ?? null, holder, leaseSeconds],
  );
  const row = rows[0];
  if (!row) throw new Error(`acquire_rate_slot returned no row for ${limit.name}`);
  return row.slot === null ? { waitMs: row.wait_ms } : { slot: row.slot };
}
