// `ticket-lifecycle run`: migrations, then the background services, each one of the same shape
// (src/backgroundService.ts), started from one list and stopped in its reverse order: the graphile-worker runner
// (running jobs finish or are released), the lifeline (retires this daemon), the job cleaner, the outbox
// dispatcher (its current round finishes), the alert monitor, the HTTP endpoints; then the pool and the embedded
// server. The knobs they run with are checked against each other before anything starts (src/config/knobs.ts).
import { EventEmitter } from "node:events";
import { type Runner, run, type WorkerEvents } from "graphile-worker";
import type { BackgroundService } from "./backgroundService.ts";
import { serviceOptionsProblem } from "./backgroundService.ts";
import type { Env } from "./config/env.ts";
import { checkKnobs, knobSetFor, knobs, poolSizeFor } from "./config/knobs.ts";
import type { LifecycleConfig } from "./config/lifecycleConfig.ts";
import { migrateIfOwner } from "./db/migrateIfOwner.ts";
import { type Database, openDatabase } from "./db/openDatabase.ts";
import { dispatcherOptionsSchema, startDispatcher } from "./delivery/dispatcher.ts";
import { graphileLogger } from "./graphileLogger.ts";
import { type HttpServer, startHttpServer } from "./http/server.ts";
import { loadSchedule } from "./loadSchedule.ts";
import type { Logger } from "./logger.ts";
import { alertMonitorOptionsSchema, startAlertMonitor } from "./maintenance/alertMonitor.ts";
import { jobCleanerOptionsSchema, startJobCleaner } from "./maintenance/jobCleaner.ts";
import { type Lifeline, lifelineOptionsSchema, startLifeline } from "./maintenance/lifeline.ts";
import { createMetrics, type Metrics } from "./observability/metrics.ts";
import { checkRequestKinds } from "./requests/checkRequestKinds.ts";
import { ruleServices } from "./requests/ruleServices.ts";
import { ping } from "./sql/ping.ts";
import { sweepJob } from "./sql/sweepJob.ts";
import type { TaskDeps } from "./taskDeps.ts";
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
 * Every knob the daemon runs with, checked before anything starts: each service's options (the daemon runs the
 * defaults of src/config/knobs.ts) and the rules between knobs, one ConfigError line naming all that is wrong.
 * Returns the pool size.
 */
export function checkSettings(env: Env): number {
  const services = [
    ["dispatcher", dispatcherOptionsSchema],
    ["lifeline", lifelineOptionsSchema],
    ["job cleaner", jobCleanerOptionsSchema],
    ["alert monitor", alertMonitorOptionsSchema],
  ] as const;
  const problems = services.flatMap(([name, schema]) => serviceOptionsProblem(name, schema, {}) ?? []);
  const lanes = dispatcherOptionsSchema.safeParse({}).data?.lanes ?? knobs.dispatcher.lanes;
  checkKnobs(knobSetFor(env, lanes), problems);
  return poolSizeFor(env, lanes);
}

/**
 * The runner's two throughput levers, both off by default (env.ts says why): writing completions (and failures)
 * back in batches, and fetching several jobs per query into a local queue, safe since graphile-worker 0.18 keeps a
 * named queue's jobs one at a time there (graphile/worker#621).
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
  const poolSize = checkSettings(env);
  const definitions = await loadTaskDefinitions();
  const db = await openDatabase(env, log, poolSize);
  // What has started so far, stopped again (last first) if a later step of start-up fails.
  const started: BackgroundService[] = [];
  try {
    await migrateIfOwner(db.pool, db.connectionString, log);
    await checkRequestKinds(db.pool, definitions);
    const sweep = await sweepJob(db.pool);
    const schedule = loadSchedule({ definitions, sweep, config });
    const metrics = createMetrics(db.pool);
    const deps: TaskDeps = { pool: db.pool, log, env, metrics, decide: ruleServices(env, db.pool), sweep };
    // Built once: the runner runs it, the start-up log names its tasks.
    const taskList = buildTaskList(definitions, deps);
    // The lifeline hears the runner's events: it must see the worker pool being created (its id is what
    // graphile-worker locks jobs with), so it is on the emitter before the runner starts.
    const events: WorkerEvents = new EventEmitter();
    let runner: Runner | undefined;
    let lifeline: Lifeline | undefined;
    let http: HttpServer | undefined;
    let running = false;
    const ready = async () => {
      if (!running) return false;
      try {
        await ping(db.pool);
        return true;
      } catch {
        return false;
      }
    };
    // Started in this order, stopped in the reverse one (the header says why that order).
    const services: Array<() => BackgroundService | Promise<BackgroundService | undefined>> = [
      async () => {
        if (!env.HTTP_PORT) return undefined;
        http = await startHttpServer(
          { registry: metrics.registry, ready },
          { port: env.HTTP_PORT, host: env.HTTP_HOST },
        );
        return http;
      },
      () => startAlertMonitor({ pool: db.pool, log, schedule, sweepTask: sweep.task, watchingSince: new Date() }),
      () => startDispatcher({ pool: db.pool, connectionString: db.connectionString, env, log, metrics }),
      () => startJobCleaner({ pool: db.pool, log }),
      () => {
        lifeline = startLifeline({
          connectionString: db.connectionString,
          log,
          events,
          jobsRescued: metrics.jobsRescued,
        });
        return lifeline;
      },
      async () => {
        runner = await run({
          pgPool: db.workerPool,
          events,
          taskList,
          parsedCronItems: schedule,
          concurrency: env.WORKER_CONCURRENCY,
          noHandleSignals: true,
          gracefulShutdownAbortTimeout: knobs.runner.gracefulShutdownAbortTimeoutMs,
          pollInterval: knobs.runner.pollIntervalMs,
          logger: graphileLogger(log),
          preset: { worker: runnerThroughput(env) },
        });
        running = true;
        runner.promise.then(
          () => (running = false),
          (error) => {
            running = false;
            log.error({ err: error }, "worker runner stopped with an error");
          },
        );
        return runner;
      },
    ];
    for (const start of services) {
      const service = await start();
      if (service) started.push(service);
    }
    const stopAll = async () => {
      for (const service of [...started].reverse()) await service.stop();
    };
    log.info(
      { concurrency: env.WORKER_CONCURRENCY, httpPort: http?.port, tasks: Object.keys(taskList) },
      "daemon running",
    );
    return {
      db,
      runner: runner as Runner,
      metrics,
      httpPort: http?.port,
      ready,
      abandon: () => (lifeline as Lifeline).stop(),
      async stop() {
        await stopAll();
        await db.close();
        log.info("daemon stopped");
      },
    };
  } catch (error) {
    for (const service of [...started].reverse()) await service.stop().catch(() => {});
    await db.close().catch(() => {});
    throw error;
  }
}
