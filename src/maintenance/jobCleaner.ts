// Retention of graphile-worker's jobs table. Completed jobs are already gone (graphile-worker deletes a job
// when it succeeds); what accumulates is permanently failed jobs (out of attempts: an expire_tickets run
// that failed, a payload that kept crashing). They stay visible in graphile_worker.jobs and
// ticketing.status_jobs, and are counted on /metrics, for `failedRetentionHours`; then they are deleted.
// The facts they stand for are kept elsewhere: ticketing.job_health, ticketing.alerts, the logs.
//
// graphile-worker's GC_JOB_QUEUES and GC_TASK_IDENTIFIERS are deliberately not run: both race with a
// concurrent add_job (its job can end up pointing at a deleted queue or task row and never run), and the
// rows they would delete are a handful of fixed names.
import type pg from "pg";
import { Gauge, type Registry } from "prom-client";
import type { Logger } from "../logger.ts";
import { every } from "../periodic.ts";
import { deleteFailedJobs } from "../sql/deleteFailedJobs.ts";

export interface JobCleanerDeps {
  pool: pg.Pool;
  log: Logger;
  registry?: Registry;
}

export interface JobCleanerOptions {
  failedRetentionHours?: number;
  intervalMs?: number;
  /** Jobs deleted per statement, so a large backlog never holds long locks. */
  chunk?: number;
}

const STATES = ["waiting", "scheduled", "running", "failed"] as const;

export function startJobCleaner(deps: JobCleanerDeps, options: JobCleanerOptions = {}): { stop(): Promise<void> } {
  const { failedRetentionHours = 168, intervalMs = 600_000, chunk = 5_000 } = options;
  const log = deps.log.child({ component: "job-cleaner" });
  const { pool } = deps;
  let stopping = false;

  // Read at each scrape, so it is the same figure whatever daemon is asked, and never stale.
  new Gauge({
    name: "worker_jobs",
    help: "graphile-worker jobs by task and state: waiting (due), scheduled (later), running (locked), failed (out of attempts, kept until retention)",
    labelNames: ["task", "state"] as const,
    registers: deps.registry ? [deps.registry] : [],
    async collect() {
      const { rows } = await pool.query<{
        task: string;
        waiting: string;
        scheduled: string;
        running: string;
        failed: string;
      }>("select task, waiting, scheduled, running, failed from ticketing.status_jobs");
      this.reset();
      for (const row of rows) for (const state of STATES) this.set({ task: row.task, state }, Number(row[state]));
    },
  });

  const cleaner = every(
    intervalMs,
    async () => {
      let deleted = 0;
      for (;;) {
        const removed = await deleteFailedJobs(pool, failedRetentionHours, chunk);
        deleted += removed;
        if (removed < chunk || stopping) break;
      }
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
