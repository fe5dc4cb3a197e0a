import type { Queryable } from "./queryable.ts";

/** Seconds since valid_end of the oldest usable ticket past it; 0 when the sweep is caught up. */
export async function expiryLagSeconds(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ seconds: number }>("select ticketing.expiry_lag_seconds() as seconds");
  return Number(rows[0]?.seconds ?? 0);
}
