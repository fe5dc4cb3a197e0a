import type { Queryable } from "./queryable.ts";

/** Gives a slot taken with acquireRateSlot back (a no-op once its lease went to someone else). */
export async function releaseRateSlot(db: Queryable, name: string, slot: number, holder: string): Promise<void> {
  await db.query("select ticketing.release_rate_slot($1, $2, $3)", [name, slot, holder]);
}
