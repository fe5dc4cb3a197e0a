import type { Queryable } from "./queryable.ts";

/** Freezes a bulk's counts once none of its requests is pending; true when the bulk is finished. */
export async function finishBulkRefund(db: Queryable, bulkId: string): Promise<boolean> {
  const { rows } = await db.query<{ finished: boolean }>("select ticketing.finish_bulk_refund($1) as finished", [
    bulkId,
  ]);
  return rows[0]?.finished ?? false;
}
