import { z } from "zod";
import type { Queryable } from "./queryable.ts";

const sweepJobRow = z
  .object({
    task_identifier: z.string().min(1),
    queue_name: z.string().min(1),
    job_key: z.string().min(1),
    // What both add_job and a cron item accept.
    job_key_mode: z.enum(["replace", "preserve_run_at"]),
    max_attempts: z.number().int().min(1),
    batch_size: z.number().int().min(1),
  })
  .transform((row) => ({
    task: row.task_identifier,
    /** How graphile-worker is to queue it: its add_job options, and a cron item's. */
    spec: {
      queueName: row.queue_name,
      jobKey: row.job_key,
      jobKeyMode: row.job_key_mode,
      maxAttempts: row.max_attempts,
    },
    batchSize: row.batch_size,
  }));

/** The expiry sweep's job identity (ticketing.sweep_job): how every path queues a sweep. */
export type SweepJob = z.output<typeof sweepJobRow>;

export async function sweepJob(db: Queryable): Promise<SweepJob> {
  const { rows } = await db.query("select * from ticketing.sweep_job()");
  return sweepJobRow.parse(rows[0]);
}
