import type { Queryable } from "./queryable.ts";

/** Deletes up to `limit` permanently failed jobs untouched for `retentionHours`; returns how many. */
export async function deleteFailedJobs(db: Queryable, retentionHours: number, limit: number): Promise<number> {
  const { rows } = await db.query<{ deleted: string }>(
    "select ticketing.delete_failed_jobs(make_interval(hours => $1), $2) as deleted",
    [retentionHours, limit],
  );
  return Number(rows[0]?.deleted ?? 0);
}
