import type { Queryable } from "../sql/queryable.ts";

/**
 * Deletes delivered events published more than `retentionHours` ago, `chunk` rows per call of
 * ticketing.prune_outbox (short transactions, no long lock on a big table), until none is left or
 * `stopping()`. Undelivered events are never deleted. Returns how many rows went.
 */
export async function pruneOutbox(
  db: Queryable,
  retentionHours: number,
  chunk: number,
  stopping: () => boolean = () => false,
): Promise<number> {
  let total = 0;
  for (;;) {
    const { rows } = await db.query<{ pruned: number }>("select ticketing.prune_outbox($1, $2) as pruned", [
      retentionHours,
      chunk,
    ]);
    const pruned = rows[0]?.pruned ?? 0;
    total += pruned;
    if (pruned < chunk || stopping()) return total;
  }
}
