import type { Queryable } from "./queryable.ts";

export interface DrainBatchResult {
  succeeded: number;
  failed: number;
  /** Requests whose ticket another transaction held: still pending, for a later batch. */
  skipped: number;
  completedOrders: number;
  cancelledOrders: number;
  /** The last request the batch took, where the next batch resumes; undefined when none was left. */
  lastId: string | undefined;
}

/** One batch of a bulk refund, its own transaction: see ticketing.drain_bulk_refund in sql/14-bulk-refunds.sql. */
export async function drainBulkRefund(
  db: Queryable,
  bulkId: string,
  batchSize: number,
  afterId?: string,
): Promise<DrainBatchResult> {
  const { rows } = await db.query<{
    succeeded: number;
    failed: number;
    skipped: number;
    completed_orders: number;
    cancelled_orders: number;
    last_id: string | null;
  }>("select d.*, d.last_id::text as last_id from ticketing.drain_bulk_refund($1, $2, $3) d", [
    bulkId,
    batchSize,
    afterId ?? null,
  ]);
  const row = rows[0];
  return {
    succeeded: row?.succeeded ?? 0,
    failed: row?.failed ?? 0,
    skipped: row?.skipped ?? 0,
    completedOrders: row?.completed_orders ?? 0,
    cancelledOrders: row?.cancelled_orders ?? 0,
    lastId: row?.last_id ?? undefined,
  };
}
