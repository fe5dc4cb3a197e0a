// Crash recovery (sql/7-lifeline.sql). Every few seconds this process records a heartbeat: who it is, the
// worker-pool ids graphile-worker locks its jobs under, and the jobs it holds (running, or waiting in its local
// queue). Every few seconds more it frees the jobs of processes whose heartbeat stopped, so a killed daemon's
// sweep resumes within a minute on whichever daemon is alive, instead of after graphile-worker's four-hour lock
// timeout.
import { randomBytes } from "node:crypto";
import os from "node:os";
import type { WorkerEvents } from "graphile-worker";
import pg from "pg";
import { Counter, type Registry } from "prom-client";
import type { Logger } from "../logger.ts";
import { every } from "../periodic.ts";

export interface LifelineDeps {
  /** The lifeline uses connections of its own: a saturated job pool must not stop the heartbeat. */
  connectionString: string;
  log: Logger;
  /** The emitter passed to graphile-worker's run({ events }), before the runner starts. */
  events: WorkerEvents;
  registry?: Registry;
}

export interface LifelineOptions {
  heartbeatMs?: number;
  /** A heartbeat older than this is a dead process. */
  deadAfterMs?: number;
  rescueEveryMs?: number;
  /** How often one job gets its interrupted attempt back. */
  maxRescues?: number;
}

export interface Lifeline {
  daemonId: string;
  /** Stops heartbeating and declares this process gone: whatever it still holds is freed by the next rescue. */
  stop(): Promise<void>;
}

interface RescuedJob {
  job_id: string;
  task_identifier: string;
  locked_by: string;
  daemon_id: string | null;
  reason: string;
  rescues: number;
  attempt_returned: boolean;
}

export function startLifeline(deps: LifelineDeps, options: LifelineOptions = {}): Lifeline {
  const { heartbeatMs = 5_000, deadAfterMs = 30_000, rescueEveryMs = 10_000, maxRescues = 3 } = options;
  if (deadAfterMs < 3 * heartbeatMs)
    throw new Error(`lifeline: deadAfterMs (${deadAfterMs}) must be at least three heartbeats (${3 * heartbeatMs})`);
  const daemonId = `${os.hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  const log = deps.log.child({ component: "lifeline", daemonId });
  const startedAt = new Date();
  const workerIds = new Set<string>();
  // The jobs this process holds locks on: running, or fetched into graphile-worker's local queue and waiting
  // for a worker there. Both are reported as the heartbeat's active jobs, so neither counts as a leaked lock.
  const runningJobs = new Set<string>();
  const queuedJobs = new Set<string>();
  const rescued = new Counter({
    name: "jobs_rescued_total",
    help: "Jobs this daemon freed from a dead or stuck worker, by reason (daemon_dead, owner_unknown, lock_leaked)",
    labelNames: ["reason"] as const,
    registers: deps.registry ? [deps.registry] : [],
  });

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
      await pool.query("select ticketing.record_heartbeat($1, $2, $3, $4, $5, $6)", [
        daemonId,
        process.pid,
        os.hostname(),
        startedAt,
        [...workerIds],
        [...runningJobs, ...queuedJobs],
      ]);
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
    rescueEveryMs,
    async () => {
      const { rows } = await pool.query<RescuedJob>(
        "select * from ticketing.rescue_orphaned_jobs(make_interval(secs => $1), $2)",
        [deadAfterMs / 1000, maxRescues],
      );
      for (const row of rows) {
        rescued.inc({ reason: row.reason });
        log.warn(
          {
            jobId: row.job_id,
            task: row.task_identifier,
            lockedBy: row.locked_by,
            ownerDaemonId: row.daemon_id,
            reason: row.reason,
            rescues: row.rescues,
            attemptReturned: row.attempt_returned,
          },
          "released a job its worker no longer runs",
        );
      }
    },
    (error) => log.warn({ err: error }, "rescue round failed; will retry"),
  );

  log.info({ heartbeatMs, deadAfterMs, rescueEveryMs }, "lifeline running");
  let stopping: Promise<void> | undefined;
  const stop = async () => {
    stopped = true;
    wakeHeartbeat();
    await Promise.all([heartbeat, rescue.stop()]);
    try {
      await pool.query("select ticketing.retire_daemon($1)", [daemonId]);
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
