import type { Queryable } from "./queryable.ts";

/** Where a sweep stands: just after this ticket in (valid_end, id) order. Kept as SQL text, exact to the microsecond. */
export interface SweepPosition {
  validEnd: string;
  id: string;
}

export interface ExpireBatchOptions {
  batchSize: number;
  graceSeconds: number;
  /** First retry delay of a quarantined ticket (doubling with each failed attempt). */
  retrySeconds: number;
  after?: SweepPosition | undefined;
}

export interface ExpireBatchResult {
  expired: number;
  completedOrders: number;
  cancelledOrders: number;
  /** Tickets left for a later batch because another transaction holds their order. */
  skipped: number;
  /** Tickets whose expiry failed on its own and that were set aside (ticketing.expiry_quarantine). */
  quarantined: string[];
  /** The last ticket the batch took, where the next batch resumes; undefined when it found none. */
  last: SweepPosition | undefined;
}

/** One sweep batch, its own transaction: see ticketing.expire_batch in sql/10-expiry-isolation.sql. */
export async function expireBatch(db: Queryable, options: ExpireBatchOptions): Promise<ExpireBatchResult> {
  const { rows } = await db.query<{
    expired: number;
    completed_orders: number;
    cancelled_orders: number;
    skipped: number;
    quarantined: string[];
    last_valid_end: string | null;
    last_id: string | null;
  }>(
    `select b.expired, b.completed_orders, b.cancelled_orders, b.skipped, b.quarantined::text[] as quarantined, b.last_valid_end::text,
            b.last_id::text
       from ticketing.expire_batch($1, make_interval(secs => $2), $3::timestamptz, $4::bigint, make_interval(secs => $5)) b`,
    [
      options.batchSize,
      options.graceSeconds,
      options.after?.validEnd ?? null,
      options.after?.id ?? null,
      options.retrySeconds,
    ],
  );
  const row = rows[0];
  return {
    expired: row?.expired ?? 0,
    completedOrders: row?.completed_orders ?? 0,
    cancelledOrders: row?.cancelled_orders ?? 0,
    skipped: row?.skipped ?? 0,
    quarantined: row?.quarantined ?? [],
    last: row?.last_valid_end && row.last_id ? { validEnd: row.last_valid_end, id: row.last_id } : undefined,
  };
}
