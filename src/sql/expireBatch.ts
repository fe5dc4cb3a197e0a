import type { Queryable } from "./queryable.ts";

/** Where a sweep stands: just after this ticket in (valid_end, id) order. Kept as SQL text, exact to the microsecond. */
export interface SweepPosition {
  validEnd: string;
  id: string;
}

export interface ExpireBatchResult {
  expired: number;
  completedOrders: number;
  cancelledOrders: number;
  /** The last ticket the batch took, where the next batch resumes; undefined when it found none. */
  last: SweepPosition | undefined;
}

/** One sweep batch, its own transaction: see ticketing.expire_batch in sql/3-expire-batch.sql. */
export async function expireBatch(
  db: Queryable,
  batchSize: number,
  graceSeconds: number,
  after?: SweepPosition,
): Promise<ExpireBatchResult> {
  const { rows } = await db.query<{
    expired: number;
    completed_orders: number;
    cancelled_orders: number;
    last_valid_end: string | null;
    last_id: string | null;
  }>(
    `select b.expired, b.completed_orders, b.cancelled_orders, b.last_valid_end::text, b.last_id::text
       from ticketing.expire_batch($1, make_interval(secs => $2), $3::timestamptz, $4::bigint) b`,
    [batchSize, graceSeconds, after?.validEnd ?? null, after?.id ?? null],
  );
  const row = rows[0];
  return {
    expired: row?.expired ?? 0,
    completedOrders: row?.completed_orders ?? 0,
    cancelledOrders: row?.cancelled_orders ?? 0,
    last: row?.last_valid_end && row.last_id ? { validEnd: row.last_valid_end, id: row.last_id } : undefined,
  };
}
