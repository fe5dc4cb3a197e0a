// Crash recovery (sql/7-lifeline.sql). Every few seconds this process records a heartbeat: who it is, the
// worker-pool ids graphile-worker locks its jobs under, and the jobs it holds (running, or waiting in its local
// queue). Every few seconds more it frees the jobs of processes whose heartbeat stopped, so a killed daemon's
// sweep resumes within a minute on whichever daemon is alive, instead of after graphile-worker's four-hour lock
// timeout.
import { randomBytes } from "node:crypto";
import os from "node:os";
import type { WorkerEvents } from "graphile-worker";
import pg from "pg";
import type { Counter } from "prom-client";
import { z } from "zod";
import { type BackgroundService, parseServiceOptions } from "../backgroundService.ts";
import { knobs } from "../config/knobs.ts";
import type { Logger } from "../logger.ts";
import { every } from "../periodic.ts";
import { recordHeartbeat } from "../sql/recordHeartbeat.ts";
import { rescueOrphanedJobs } from "../sql/rescueOrphanedJobs.ts";
import { retireDaemon } from "../sql/retireDaemon.ts";

export interface LifelineDeps {
  /** The lifeline uses connections of its own: a saturated job pool must not stop the heartbeat. */
  connectionString: string;
  log: Logger;
  /** The emitter passed to graphile-worker's run({ events }), before the runner starts. */
  events: WorkerEvents;
  /** jobs_rescued_total (src/observability/metrics.ts); none: not counted. */
  jobsRescued?: Counter<"reason">;
}

const l = knobs.lifeline;
const ms = z.number().int().min(1).max(3_600_000);

/** The lifeline's knobs: each one's meaning and default in src/config/knobs.ts. */
export const lifelineOptionsSchema = z
  .strictObject({
    heartbeatMs: ms.prefault(l.heartbeatMs),
    deadAfterMs: ms.prefault(l.deadAfterMs),
    rescueIntervalMs: ms.prefault(l.rescueIntervalMs),
    maxRescues: z.number().int().min(0).max(1_000).prefault(l.maxRescues),
  })
  .superRefine((o, ctx) => {
    if (o.deadAfterMs < 3 * o.heartbeatMs)
      ctx.addIssue({
        code: "custom",
        path: ["deadAfterMs"],
        message: `must be at least three heartbeats (${3 * o.heartbeatMs}), got ${o.deadAfterMs}`,
      });
  });
export type LifelineOptions = z.input<typeof lifelineOptionsSchema>;

export interface Lifeline extends BackgroundService {
  daemonId: string;
  /** Stops heartbeating and declares this process gone: whatever it still holds is freed by the next rescue. */
  stop(): Promise<void>;
}

export function startLifeline(deps: LifelineDeps, options: LifelineOptions = {}): Lifeline {
  const { heartbeatMs, deadAfterMs, rescueIntervalMs, maxRescues } = parseServiceOptions(
    "lifeline",
    lifelineOptionsSchema,
    options,
  );
  const daemonId = `${os.hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  const log = deps.log.child({ component: "lifeline", daemonId });
  const startedAt = new Date();
  const workerIds = new Set<string>();
  // The jobs this process holds locks on: running, or fetched into graphile-worker's local queue and waiting
  // for a worker there. Both are reported as the heartbeat's active jobs, so neither counts as a leaked lock.
  const runningJobs = new Set<string>();
  const queuedJobs = new Set<string>();

  const pool = new pg.Pool({
    connectionString: deps.connectionString,
    max: 2,
    application_name: "ticket-lifecycle-lifeline",
    keepAlive: true,
    // A heartbeat that cannot be written in time is as good as none; fail fast and try again.
    connectionTimeoutMillis: heartbeatMs,
    statement_timeout: deadAfterMs,
  });
  pool.on("error", (error) => log.warn({ err: error }, "lifeline connection lost"));

  let stopped = false;
  let beatFailures = 0;
  const beat = async () => {
    try {
      await recordHeartbeat(pool, {
        daemonId,
        pid: process.pid,
        host: os.hostname(),
        startedAt,
        workerIds: [...workerIds],
        activeJobIds: [...runningJobs, ...queuedJobs],
      });
      if (beatFailures > 0) log.info({ failures: beatFailures }, "heartbeat restored");
      beatFailures = 0;
    } catch (error) {
      beatFailures += 1;
      // Once per outage, and again when it has lasted long enough for other daemons to count us dead.
      if (beatFailures === 1 || beatFailures * heartbeatMs === deadAfterMs) {
        log.warn({ err: error, failures: beatFailures }, "could not record the heartbeat; retrying");
      }
    }
  };
  // One beat at a time; a new worker pool is recorded at once, not at the next tick, so a process killed
  // in its first seconds is already known as the owner of its locks.
  let beatAgain = false;
  let interruptSleep: (() => void) | undefined;
  const wakeHeartbeat = () => {
    beatAgain = true;
    interruptSleep?.();
  };
  const heartbeat = (async () => {
    while (!stopped) {
      beatAgain = false;
      await beat();
      if (beatAgain || stopped) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, heartbeatMs);
        interruptSleep = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      interruptSleep = undefined;
    }
  })();

  deps.events.on("pool:create", ({ workerPool }) => {
    workerIds.add(workerPool.id);
    wakeHeartbeat();
  });
  deps.events.on("localQueue:getJobs:complete", ({ jobs }) => {
    for (const job of jobs) queuedJobs.add(job.id);
  });
  deps.events.on("localQueue:returnJobs", ({ jobs }) => {
    for (const job of jobs) queuedJobs.delete(job.id);
  });
  deps.events.on("job:start", ({ job }) => {
    queuedJobs.delete(job.id);
    runningJobs.add(job.id);
  });
  deps.events.on("job:complete", ({ job }) => runningJobs.delete(job.id));

  const rescue = every(
    rescueIntervalMs,
    async () => {
      for (const job of await rescueOrphanedJobs(pool, deadAfterMs, maxRescues)) {
        deps.jobsRescued?.inc({ reason: job.reason });
        log.warn(job, "released a job its worker no longer runs");
      }
    },
    (error) => log.warn({ err: error }, "rescue round failed; will retry"),
  );

  log.info({ heartbeatMs, deadAfterMs, rescueIntervalMs }, "lifeline running");
  let stopping: Promise<void> | undefined;
  const stop = async () => {
    stopped = true;
    wakeHeartbeat();
    await Promise.all([heartbeat, rescue.stop()]);
    try {
      await retireDaemon(pool, daemonId);
    } catch (error) {
      log.warn({ err: error }, "could not retire the heartbeat; other daemons will count this one dead when it ages");
    }
    await pool.end();
  };
  return {
    daemonId,
    // Idempotent: a forced shutdown may call it while a graceful one already is.
    stop: () => (stopping ??= stop()),
  };
}
