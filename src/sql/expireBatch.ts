import type { Queryable } from "./queryable.ts";

export interface ExpireBatchResult {
  expired: number;
  completedOrders: number;
  cancelledOrders: number;
}

/** One sweep batch, its own transaction: see ticketing.expire_batch in sql/3-expire-batch.sql. */
export async function expireBatch(db: Queryable, batchSize: number, graceSeconds: number): Promise<ExpireBatchResult> {
  const { rows } = await db.query<{ expired: number; completed_orders: number; cancelled_orders: number }>(
    "select * from ticketing.expire_batch($1, make_interval(secs => $2))",
    [batchSize, graceSeconds],
  );
  const row = rows[0];
  return { expired: row?.expired ?? 0, completedOrders: row?.completed_orders ?? 0, cancelledOrders: row?.cancelled_orders ?? 0 };
}
