// The expiry sweep's job identity is ticketing.sweep_job(): every path that queues a sweep — the schedule's
// expire_job as the daemon builds it, ticketing.queue_sweep (the CLI's `expire`, the demo), the re-queue of an
// interrupted sweep — must queue the very same job, or the queue and the key stop keeping sweeps apart.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type JobHelpers, makeWorkerUtils, run, type WorkerUtils } from "graphile-worker";
import pg from "pg";
import { loadEnv } from "../src/config/env.ts";
import { graphileLogger } from "../src/graphileLogger.ts";
import { loadSchedule } from "../src/loadSchedule.ts";
import { createLogger } from "../src/logger.ts";
import { createMetrics } from "../src/observability/metrics.ts";
import { type SweepJob, sweepJob } from "../src/sql/sweepJob.ts";
import { taskFor } from "../src/taskDefinition.ts";
import { loadTaskDefinitions } from "../src/taskList.ts";
import { waitFor } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";

let db: TestDatabase;
let daemonPool: pg.Pool;
/** graphile-worker's own pool here, with the error handlers it asks for. */
let workerPool: pg.Pool;
let utils: WorkerUtils;
let sweep: SweepJob;
const definitions = await loadTaskDefinitions();
const silent = createLogger("silent");

before(async () => {
  db = await createTestDatabase();
  // As the daemon reads it at start-up, with the daemon's login.
  daemonPool = new pg.Pool({ connectionString: db.urlAs("daemon"), max: 4 });
  sweep = await sweepJob(daemonPool);
  workerPool = db.openPool(4);
  workerPool.on("connect", (client) => client.on("error", () => {}));
  utils = await makeWorkerUtils({ pgPool: workerPool, logger: graphileLogger(silent) });
});
after(async () => {
  await utils.release();
  await daemonPool.end();
  await db.drop();
});

/**
 * Each path runs against one waiting sweep queued a day ahead in a queue and with attempts of its own: a path
 * with the sweep's key updates that job (its key mode decides whether it keeps the day-ahead run_at), one with
 * another key queues a second job. What is left says task, queue, key, key mode, attempts and batch size.
 */
async function jobLeftBy(path: () => Promise<unknown>) {
  await db.pool.query("delete from graphile_worker._private_jobs");
  await db.pool.query(
    `select graphile_worker.add_job($1, '{"seeded": true}', queue_name => 'seeded', run_at => now() + interval '1 day',
                                    max_attempts => 9, job_key => $2, job_key_mode => 'replace')`,
    [sweep.task, sweep.spec.jobKey],
  );
  await path();
  const { rows } = await db.pool.query(
    `select j.task_identifier as task, j.queue_name as queue, j.key, j.max_attempts,
            j.run_at > now() + interval '12 hours' as kept_run_at, (p.payload->>'batch_size')::int as batch_size
       from graphile_worker.jobs j join graphile_worker._private_jobs p using (id) order by j.id`,
  );
  return rows;
}

test("the schedule, queue_sweep and the re-queue queue the identical sweep job: ticketing.sweep_job()'s", async () => {
  const cron = await jobLeftBy(async () => {
    // The daemon's expire_job, made to fire at once: graphile-worker backfills the ticks it missed since the
    // identifier became known (an hour ago here) within its backfill period.
    const item = loadSchedule({ definitions, sweep }).find((i) => i.identifier === "expire_job");
    assert.ok(item);
    await db.pool.query(
      "insert into graphile_worker._private_known_crontabs (identifier, known_since) values ('expire_job', now() - interval '1 hour') on conflict (identifier) do update set known_since = excluded.known_since, last_execution = null",
    );
    const runner = await run({
      pgPool: workerPool,
      taskList: {},
      parsedCronItems: [{ ...item, options: { ...item.options, backfillPeriod: 3_600_000 } }],
      noHandleSignals: true,
      logger: graphileLogger(silent),
    });
    try {
      await waitFor(
        "the cron job",
        async () =>
          (await db.pool.query("select 1 from graphile_worker._private_jobs where payload::jsonb ? '_cron'")).rowCount,
      );
    } finally {
      await runner.stop();
    }
  });

  const queueSweep = await jobLeftBy(() => daemonPool.query("select ticketing.queue_sweep()"));

  const requeue = await jobLeftBy(async () => {
    // An interrupted sweep: the shutdown's abort signal is already set, so the run queues the rest at once.
    const expireTickets = definitions.find((d) => d.identifier === sweep.task);
    assert.ok(expireTickets);
    const env = loadEnv({});
    const task = taskFor(expireTickets, {
      pool: daemonPool,
      log: silent,
      env,
      metrics: createMetrics(),
      decide: { refund: undefined, change: undefined },
      sweep,
    });
    const helpers = { job: { id: "0" }, abortSignal: AbortSignal.abort(), addJob: utils.addJob };
    await task({}, helpers as unknown as JobHelpers);
  });

  const expected = [
    {
      task: sweep.task,
      queue: sweep.spec.queueName,
      key: sweep.spec.jobKey,
      max_attempts: sweep.spec.maxAttempts,
      kept_run_at: sweep.spec.jobKeyMode === "preserve_run_at",
      batch_size: sweep.batchSize,
    },
  ];
  assert.deepEqual(cron, expected, "the schedule's expire_job");
  assert.deepEqual(queueSweep, expected, "ticketing.queue_sweep()");
  assert.deepEqual(requeue, expected, "the re-queue of an interrupted sweep");
});

test("ticketing.sweep_job() is the sweep the design documents", () => {
  assert.deepEqual(sweep, {
    task: "expire_tickets",
    spec: { queueName: "expire_tickets", jobKey: "expire_tickets", jobKeyMode: "preserve_run_at", maxAttempts: 1 },
    batchSize: 200,
  });
});
