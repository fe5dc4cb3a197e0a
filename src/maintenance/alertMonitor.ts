// Watches the sweep's schedule: when no expire_tickets run has succeeded for three scheduled ticks (a
// stopped cron, a wedged queue, every daemon down but this one's runner), it raises a job_stalled
// alert. The next successful sweep clears it (ticketing.record_job_result).
import type { ParsedCronItem } from "graphile-worker";
import type pg from "pg";
import type { Logger } from "../logger.ts";
import { every } from "../periodic.ts";
import { missedTicks } from "./scheduleTicks.ts";

const TASK = "expire_tickets";
const MISSED_TICKS = 3;

export interface AlertMonitorOptions {
  pool: pg.Pool;
  log: Logger;
  schedule: ParsedCronItem[];
  /** When this daemon began watching: a fresh start is not a stall. */
  watchingSince: Date;
  intervalMs?: number;
}

export function startAlertMonitor({ pool, log, schedule, watchingSince, intervalMs = 30_000 }: AlertMonitorOptions): {
  stop(): Promise<void>;
} {
  const item = schedule.find((i) => i.task === TASK);
  return every(
    intervalMs,
    async () => {
      if (!item) return;
      const { rows } = await pool.query<{ last_success_at: Date | null }>(
        "select last_success_at from ticketing.job_health where task = $1",
        [TASK],
      );
      const lastSuccess = rows[0]?.last_success_at ?? null;
      const lastGood = lastSuccess && lastSuccess > watchingSince ? lastSuccess : watchingSince;
      if (!missedTicks(item, lastGood, new Date(), MISSED_TICKS)) return;
      const { rows: raised } = await pool.query<{ raised: boolean }>(
        "select ticketing.raise_alert($1, 'job_stalled', $2, $3) as raised",
        [
          `job_stalled:${TASK}`,
          `no ${TASK} run has succeeded for ${MISSED_TICKS} scheduled ticks`,
          { task: TASK, last_success_at: lastSuccess, schedule: item.identifier },
        ],
      );
      if (raised[0]?.raised)
        log.error(
          { alert: "job_stalled", task: TASK, lastSuccessAt: lastSuccess },
          "alert raised: scheduled sweep has not succeeded",
        );
    },
    (error) => log.warn({ err: error, component: "alert-monitor" }, "alert monitor check failed; will retry"),
  );
}
