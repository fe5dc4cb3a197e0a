import type { Queryable } from "./queryable.ts";

/**
 * Milliseconds until the earliest backed-off event becomes due, or null when none waits
 * (ticketing.ms_until_next_outbox_attempt).
 */
export async function msUntilNextAttempt(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ ms: number | null }>("select ticketing.ms_until_next_outbox_attempt() as ms");
  return rows[0]?.ms ?? null;
}
