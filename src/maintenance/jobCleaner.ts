// Retention of graphile-worker's jobs table. Completed jobs are already gone (graphile-worker deletes a job
// when it succeeds); what accumulates is permanently failed jobs (out of attempts: an expire_tickets run
// that failed, a payload that kept crashing). They stay visible in graphile_worker.jobs and
// ticketing.status_jobs, and are counted on /metrics (worker_jobs), for `failedRetentionHours`; then they are deleted.
// The facts they stand for are kept elsewhere: ticketing.job_health, ticketing.alerts, the logs.
//
// graphile-worker's GC_JOB_QUEUES and GC_TASK_IDENTIFIERS are deliberately not run: both race with a
// concurrent add_job (its job can end up pointing at a deleted queue or task row and never run), and the
// rows they would delete are a handful of fixed names.
import type pg from "pg";
import { z } from "zod";
import { type BackgroundService, parseServiceOptions } from "../backgroundService.ts";
import { knobs } from "../config/knobs.ts";
import type { Logger } from "../logger.ts";
import { every } from "../periodic.ts";
import { deleteFailedJobs } from "../sql/deleteFailedJobs.ts";
import { deleteInChunks } from "./deleteInChunks.ts";

export interface JobCleanerDeps {
  pool: pg.Pool;
  log: Logger;
}

const c = knobs.jobCleaner;

/** The job cleaner's knobs: each one's meaning and default in src/config/knobs.ts. */
export const jobCleanerOptionsSchema = z.strictObject({
  failedRetentionHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 366)
    .prefault(c.failedRetentionHours),
  intervalMs: z.number().int().min(1).max(86_400_000).prefault(c.intervalMs),
  chunk: z.number().int().min(1).max(100_000).prefault(c.chunk),
});
export type JobCleanerOptions = z.input<typeof jobCleanerOptionsSchema>;

export function startJobCleaner(deps: JobCleanerDeps, options: JobCleanerOptions = {}): BackgroundService {
  const { failedRetentionHours, intervalMs, chunk } = parseServiceOptions(
    "job cleaner",
    jobCleanerOptionsSchema,
    options,
  );
  const log = deps.log.child({ component: "job-cleaner" });
  const { pool } = deps;
  let stopping = false;

  const cleaner = every(
    intervalMs,
    async () => {
      const deleted = await deleteInChunks(
        () => deleteFailedJobs(pool, failedRetentionHours, chunk),
        chunk,
        () => stopping,
      );
      if (deleted > 0) log.info({ deleted, failedRetentionHours }, "deleted permanently failed jobs past retention");
    },
    (error) => log.warn({ err: error }, "job retention round failed; will retry"),
  );

  return {
    async stop() {
      stopping = true;
      await cleaner.stop();
    },
  };
}
