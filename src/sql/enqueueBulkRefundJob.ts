import type { Queryable } from "./queryable.ts";

/** Queues the bulk's job again (after the one running now, in the bulk's own queue). */
export async function enqueueBulkRefundJob(db: Queryable, bulkId: string): Promise<void> {
  await db.query("select ticketing.enqueue_bulk_refund_job($1)", [bulkId]);
}
