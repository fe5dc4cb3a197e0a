import type { Queryable } from "./queryable.ts";

/** Consecutive failed runs per task, as counted in ticketing.job_health across every daemon. */
export async function jobConsecutiveFailures(db: Queryable): Promise<Array<{ task: string; failures: number }>> {
  const { rows } = await db.query<{ task: string; failures: number }>(
    "select task, consecutive_failures as failures from ticketing.job_health",
  );
  return rows;
}
