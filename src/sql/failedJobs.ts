import type { Queryable } from "./queryable.ts";

export interface FailedJob {
  id: string;
  task: string;
  queue_name: string | null;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  payload: unknown;
  failed_at: Date;
}

/** Jobs out of attempts (ticketing.failed_jobs), oldest failure first. */
export async function failedJobs(db: Queryable): Promise<FailedJob[]> {
  const { rows } = await db.query<FailedJob>(
    `select id, task, queue_name, attempts, max_attempts, last_error, payload, failed_at
       from ticketing.failed_jobs order by failed_at, id`,
  );
  return rows;
}
