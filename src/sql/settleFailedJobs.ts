import type { Queryable } from "./queryable.ts";

export interface SettledJob {
  id: string;
  task: string;
  attempts: number;
  last_error: string | null;
}

/**
 * retry: permanently failed jobs due again now with their attempts back; discard: deleted. Ids of jobs that
 * are not permanently failed are left alone. With dryRun, only the jobs that would be touched.
 */
export async function settleFailedJobs(
  db: Queryable,
  how: "retry" | "discard",
  jobIds: string[],
  dryRun: boolean,
): Promise<SettledJob[]> {
  const { rows } = await db.query<SettledJob>(
    `select id, task, attempts, last_error from ticketing.${how === "retry" ? "retry" : "discard"}_failed_jobs($1::bigint[], $2)`,
    [jobIds, dryRun],
  );
  return rows;
}
