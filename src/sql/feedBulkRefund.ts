import type { Queryable } from "./queryable.ts";

/**
 * Hands a bulk's next pending requests to their per-request jobs, keeping at most `window` of them handed
 * over and unfinished (ticketing.feed_bulk_refund in sql/14-bulk-refunds.sql).
 */
export async function feedBulkRefund(
  db: Queryable,
  bulkId: string,
  window: number,
): Promise<{ fed: number; inFlight: number; waiting: number }> {
  const { rows } = await db.query<{ fed: number; in_flight: number; waiting: number }>(
    "select fed, in_flight, waiting from ticketing.feed_bulk_refund($1, $2)",
    [bulkId, window],
  );
  const row = rows[0];
  return { fed: row?.fed ?? 0, inFlight: row?.in_flight ?? 0, waiting: row?.waiting ?? 0 };
}
