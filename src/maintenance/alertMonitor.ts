// Watches the sweep's schedule: when no sweep (expire_tickets) run has succeeded for `missedTicks` scheduled ticks (a
// stopped cron, a wedged queue, every daemon down but this one's runner), it raises a job_stalled
// alert. The next successful sweep clears it (ticketing.record_job_result).
import type { ParsedCronItem } from "graphile-worker";
import type pg from "pg";
import { z } from "zod";
import { type BackgroundService, parseServiceOptions } from "../backgroundService.ts";
import { knobs } from "../config/knobs.ts";
import type { Logger } from "../logger.ts";
import { every } from "../periodic.ts";
import { jobLastSuccess } from "../sql/jobLastSuccess.ts";
import { raiseAlert } from "../sql/raiseAlert.ts";
import { missedTicks } from "./scheduleTicks.ts";

export interface AlertMonitorDeps {
  pool: pg.Pool;
  log: Logger;
  schedule: ParsedCronItem[];
  /** The sweep's task (ticketing.sweep_job()): its schedule is watched. */
  sweepTask: string;
  /** When this daemon began watching: a fresh start is not a stall. */
  watchingSince: Date;
}

/** The alert monitor's knobs: each one's meaning and default in src/config/knobs.ts. */
export const alertMonitorOptionsSchema = z.strictObject({
  intervalMs: z.number().int().min(1).max(3_600_000).prefault(knobs.alertMonitor.intervalMs),
  missedTicks: z.number().int().min(1).max(100).prefault(knobs.alertMonitor.missedTicks),
});
export type AlertMonitorOptions = z.input<typeof alertMonitorOptionsSchema>;

export function startAlertMonitor(deps: AlertMonitorDeps, options: AlertMonitorOptions = {}): BackgroundService {
  const { intervalMs, missedTicks: missed } = parseServiceOptions("alert monitor", alertMonitorOptionsSchema, options);
  const { pool, log, schedule, watchingSince, sweepTask: task } = deps;
  const item = schedule.find((i) => i.task === task);
  return every(
    intervalMs,
    async () => {
      if (!item) return;
      const lastSuccess = await jobLastSuccess(pool, task);
      const lastGood = lastSuccess && lastSuccess > watchingSince ? lastSuccess : watchingSince;
      if (!missedTicks(item, lastGood, new Date(), missed)) return;
      const raised = await raiseAlert(pool, {
        key: `job_stalled:${task}`,
        kind: "job_stalled",
        message: `no ${task} run has succeeded for ${missed} scheduled ticks`,
        details: { task: task, last_success_at: lastSuccess, schedule: item.identifier },
      });
      if (raised)
        log.error(
          { alert: "job_stalled", task: task, lastSuccessAt: lastSuccess },
          "alert raised: scheduled sweep has not succeeded",
        );
    },
    (error) => log.warn({ err: error, component: "alert-monitor" }, "alert monitor check failed; will retry"),
  );
}
