import type { Queryable } from "./queryable.ts";

export interface JobCounts {
  task: string;
  /** Due now. */
  waiting: number;
  /** Due later. */
  scheduled: number;
  /** Locked by a worker. */
  running: number;
  /** Out of attempts, kept until retention. */
  failed: number;
}

/** graphile-worker's jobs per task and state (ticketing.status_jobs), ordered by task. */
export async function jobCountsByTask(db: Queryable): Promise<JobCounts[]> {
  const { rows } = await db.query<Record<"waiting" | "scheduled" | "running" | "failed", string> & { task: string }>(
    "select task, waiting, scheduled, running, failed from ticketing.status_jobs order by task",
  );
  return rows.map((r) => ({
    task: r.task,
    waiting: Number(r.waiting),
    scheduled: Number(r.scheduled),
    running: Number(r.running),
    failed: Number(r.failed),
  }));
}
