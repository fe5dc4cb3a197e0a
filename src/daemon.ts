// `ticket-lifecycle run`: migrations, the lifeline (heartbeat + rescue of dead daemons' jobs), the
// graphile-worker runner with our tasks and schedule, the outbox dispatcher, the alert monitor, the job
// cleaner, the HTTP endpoints. Shutdown order: runner (running jobs finish or are released), lifeline
// (retires this daemon), cleaner, dispatcher (its current round finishes), monitor, HTTP, pool, embedded server.
import { EventEmitter } from "node:events";
import { type Runner, run, type WorkerEvents } from "graphile-worker";
import type { Env } from "./config/env.ts";
import type { LifecycleConfig } from "./config/lifecycleConfig.ts";
import { migrateIfOwner } from "./db/migrateIfOwner.ts";
import { type Database, openDatabase } from "./db/openDatabase.ts";
import { ruleServices } from "./decide.ts";
import { startDispatcher } from "./delivery/dispatcher.ts";
import type { TaskDeps } from "./deps.ts";
import { graphileLogger } from "./graphileLogger.ts";
import { startHttpServer } from "./http/server.ts";
import { loadSchedule } from "./loadSchedule.ts";
import type { Logger } from "./logger.ts";
import { startAlertMonitor } from "./maintenance/alertMonitor.ts";
import { startJobCleaner } from "./maintenance/jobCleaner.ts";
import { startLifeline } from "./maintenance/lifeline.ts";
import { createMetrics, type Metrics } from "./observability/metrics.ts";
import { sweepJob } from "./sql/sweepJob.ts";
import { buildTaskList, loadTaskDefinitions } from "./taskList.ts";

export interface Daemon {
  db: Database;
  runner: Runner;
  metrics: Metrics;
  httpPort: number | undefined;
  ready(): Promise<boolean>;
  stop(): Promise<void>;
  /** Forced shutdown: declares this process gone, so the next rescue (any daemon's, or the next start's) frees its jobs at once. */
  abandon(): Promise<void>;
}

/**
 * Connections: one per concurrent job, one per extra sweep lane, plus the runner's own and the HTTP
 * checks (8), plus the outbox dispatcher's two lanes and its gauge, prune and timer queries (4), plus the job cleaner (1).
 */
export function poolSizeFor(env: Env): number {
  return env.WORKER_CONCURRENCY + 13;
}

/**
 * The runner's two throughput levers: writing completions (and failures) back in batches, on by default; and
 * fetching several jobs per query into a local queue, safe since graphile-worker 0.18 keeps a named queue's jobs
 * one at a time there (graphile/worker#621), off by default because a busy runner keeps filling it (env.ts).
 * Jobs in the local queue are locked but not running yet: the lifeline counts them as held, and a shutdown
 * hands them back.
 */
export function runnerThroughput(env: Env): GraphileConfig.WorkerOptions {
  return {
    ...(env.WORKER_LOCAL_QUEUE_SIZE > 0 ? { localQueue: { size: env.WORKER_LOCAL_QUEUE_SIZE } } : {}),
    completeJobBatchDelay: env.WORKER_BATCH_DELAY_MS,
    failJobBatchDelay: env.WORKER_BATCH_DELAY_MS,
  };
}

export async function startDaemon(env: Env, log: Logger, config?: LifecycleConfig): Promise<Daemon> {
  const definitions = await loadTaskDefinitions();
  const db = await openDatabase(env, log, poolSizeFor(env));
  // What has started so far, stopped again if a later step of start-up fails.
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    await migrateIfOwner(db.pool, db.connectionString, log);
    const sweep = await sweepJob(db.pool);
    const schedule = loadSchedule({ definitions, sweep, config });
    const metrics = createMetrics(db.pool);
    const deps: TaskDeps = { pool: db.pool, log, env, metrics, decide: ruleServices(env, db.pool), sweep };
    const taskList = buildTaskList(definitions, deps);
    // Before the runner: the lifeline must see the worker pool being created (its id is what graphile-worker locks jobs with).
    const events: WorkerEvents = new EventEmitter();
    const lifeline = startLifeline({ connectionString: db.connectionString, log, events, registry: metrics.registry });
    started.push(lifeline);
    const runner = await run({
      pgPool: db.workerPool,
      events,
      taskList,
      parsedCronItems: schedule,
      concurrency: env.WORKER_CONCURRENCY,
      noHandleSignals: true,
      // The sweep is the only task that watches the abort signal: it should stop at its next batch boundary
      // as soon as shutdown starts, not after graphile-worker's default 5 s of more batches.
      gracefulShutdownAbortTimeout: 0,
      pollInterval: 2000,
      logger: graphileLogger(log),
      preset: { worker: runnerThroughput(env) },
    });
    started.push(runner);
    let running = true;
    runner.promise.then(
      () => (running = false),
      (error) => {
        running = false;
        log.error({ err: error }, "worker runner stopped with an error");
      },
    );
    const ready = async () => {
      if (!running) return false;
      try {
        await db.pool.query("select 1");
        return true;
      } catch {
        return false;
      }
    };
    const dispatcher = startDispatcher({ pool: db.pool, connectionString: db.connectionString, env, log, metrics });
    started.push(dispatcher);
    const alertMonitor = startAlertMonitor({ pool: db.pool, log, schedule, watchingSince: new Date() });
    started.push(alertMonitor);
    const jobCleaner = startJobCleaner({ pool: db.pool, log, registry: metrics.registry });
    started.push(jobCleaner);
    const http = env.HTTP_PORT
      ? await startHttpServer(env.HTTP_PORT, env.HTTP_HOST, { registry: metrics.registry, ready })
      : undefined;
    log.info(
      { concurrency: env.WORKER_CONCURRENCY, httpPort: http?.port, tasks: Object.keys(taskList) },
      "daemon running",
    );
    return {
      db,
      runner,
      metrics,
      httpPort: http?.port,
      ready,
      abandon: () => lifeline.stop(),
      async stop() {
        await runner.stop();
        await lifeline.stop();
        await jobCleaner.stop();
        await dispatcher.stop();
        await alertMonitor.stop();
        await http?.close();
        await db.close();
        log.info("daemon stopped");
      },
    };
  } catch (error) {
    for (const part of started) await part.stop().catch(() => {});
    await db.close().catch(() => {});
    throw error;
  }
}
