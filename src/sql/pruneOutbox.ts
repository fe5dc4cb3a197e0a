import type { Queryable } from "./queryable.ts";

/**
 * Deletes up to `chunk` delivered events published more than `retentionHours` ago (ticketing.prune_outbox);
 * undelivered events are never deleted. Returns how many rows went.
 */
export async function pruneOutbox(db: Queryable, retentionHours: number, chunk: number): Promise<number> {
  const { rows } = await db.query<{ pruned: number }>("select ticketing.prune_outbox($1, $2) as pruned", [
    retentionHours,
    chunk,
  ]);
  return rows[0]?.pruned ?? 0;
}
