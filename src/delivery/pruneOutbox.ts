import type { Queryable } from "../sql/queryable.ts";

/**
 * Deletes delivered events published more than `retentionHours` ago, `chunk` rows per statement (short
 * transactions, no long lock on a big table), until none is left or `stopping()`. Undelivered events are
 * never deleted: published_at is null for them. Returns how many rows went.
 */
export async function pruneOutbox(
  db: Queryable,
  retentionHours: number,
  chunk: number,
  stopping: () => boolean = () => false,
): Promise<number> {
  let total = 0;
  for (;;) {
    const { rowCount } = await db.query(
      `delete from ticketing.outbox where id in (
         select id from ticketing.outbox
          where published_at < now() - make_interval(hours => $1)
          order by published_at
          limit $2)`,
      [retentionHours, chunk],
    );
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < chunk || stopping()) return total;
  }
}
