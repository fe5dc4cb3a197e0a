// Retention: graphile-worker's jobs table stays small (completed jobs gone at once, permanently failed ones
// kept visible and counted for the retention period, then deleted); delivered outbox rows are pruned after
// OUTBOX_RETENTION_HOURS, undelivered ones never; the audit is never touched.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createLogger } from "../../src/logger.ts";
import { startJobCleaner } from "../../src/maintenance/jobCleaner.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import { startTestDaemon, waitFor } from "../support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { asEngine } from "../support/engine.ts";
import { createOrder } from "../support/fixtures.ts";
import { scalar } from "../support/reliability.ts";

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

/** A job of `task` in the state given, as graphile-worker leaves it. */
async function job(
  task: string,
  state: { attempts: number; maxAttempts: number; lockedBy?: string; updatedAgo: string },
) {
  const { rows } = await db.pool.query<{ id: string }>(
    "select id from graphile_worker.add_job($1, '{}'::json, max_attempts => $2)",
    [task, state.maxAttempts],
  );
  const id = rows[0]?.id as string;
  await db.pool.query(
    `update graphile_worker._private_jobs
        set attempts = $2::smallint, last_error = case when $2::int > 0 then 'boom' end, locked_by = $3::text,
            locked_at = case when $3::text is not null then now() end,
            updated_at = now() - $4::interval
      where id = $1`,
    [id, state.attempts, state.lockedBy ?? null, state.updatedAgo],
  );
  return id;
}

const exists = async (id: string) =>
  (await scalar<number>(db.pool, "select count(*)::int from graphile_worker._private_jobs where id = $1", [id])) === 1;

test("permanently failed jobs stay visible and counted for the retention period, then go; nothing else is touched", async () => {
  const oldFailed = await job("retention_probe", { attempts: 1, maxAttempts: 1, updatedAgo: "8 days" });
  const recentFailed = await job("retention_probe", { attempts: 25, maxAttempts: 25, updatedAgo: "1 hour" });
  const oldRetrying = await job("retention_probe", { attempts: 3, maxAttempts: 25, updatedAgo: "8 days" });
  const oldLocked = await job("retention_probe", {
    attempts: 1,
    maxAttempts: 1,
    lockedBy: "pool-somewhere",
    updatedAgo: "8 days",
  });
  const { registry } = createMetrics(db.pool);
  const cleaner = startJobCleaner(
    { pool: db.pool, log: createLogger("silent") },
    { failedRetentionHours: 168, intervalMs: 60_000 },
  );
  try {
    await waitFor("the old permanently failed job deleted", async () => !(await exists(oldFailed)));
    assert.equal(await exists(recentFailed), true, "a recent failure stays visible");
    assert.equal(await exists(oldRetrying), true, "a job with attempts left is not a failure");
    assert.equal(await exists(oldLocked), true, "a locked job is never deleted");
    const metrics = await registry.metrics();
    assert.match(metrics, /worker_jobs\{task="retention_probe",state="failed"\} 1\n/);
    assert.match(metrics, /worker_jobs\{task="retention_probe",state="running"\} 1\n/);
    assert.match(
      metrics,
      /worker_jobs\{task="retention_probe",state="scheduled"\} 1\n|worker_jobs\{task="retention_probe",state="waiting"\} 1\n/,
    );
  } finally {
    await cleaner.stop();
  }
});

test("completed jobs leave no row: the jobs table holds only what is still to do", async () => {
  const daemon = await startTestDaemon(db, { LOG_LEVEL: "warn" });
  try {
    const { orderId } = await createOrder(db.pool, 2);
    await db.pool.query(
      "select graphile_worker.add_job('check_order', json_build_object('order_id', $1::bigint)) from generate_series(1, 500)",
      [orderId],
    );
    await waitFor(
      "500 jobs done",
      async () =>
        (await scalar<number>(
          db.pool,
          "select count(*)::int from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'check_order'",
        )) === 0,
      60_000,
    );
  } finally {
    await daemon.stop();
  }
});

test("delivered events are pruned after OUTBOX_RETENTION_HOURS, undelivered ones never; the audit is kept", async () => {
  const { ticketIds } = await createOrder(db.pool, 3);
  for (const t of ticketIds) await db.pool.query("select ticketing.redeem_ticket($1, $2)", [t, `retention-${t}`]);
  const [oldDelivered, recentDelivered, oldUndelivered] = ticketIds;
  // Ages no API writes: planted as the engine role.
  await asEngine(
    db.pool,
    "update ticketing.outbox set published_at = now() - interval '2 hours', created_at = now() - interval '3 hours' where ticket_id = $1",
    [oldDelivered],
  );
  await asEngine(
    db.pool,
    "update ticketing.outbox set published_at = now() - interval '10 minutes' where ticket_id = $1",
    [recentDelivered],
  );
  await asEngine(
    db.pool,
    "update ticketing.outbox set published_at = null, created_at = now() - interval '30 days' where ticket_id = $1",
    [oldUndelivered],
  );
  const audit = await scalar<number>(db.pool, "select count(*)::int from ticketing.ticket_status_audit");

  // No sink: the dispatcher would publish the undelivered event at once; a sink that always fails keeps it.
  const daemon = await startTestDaemon(db, {
    OUTBOX_RETENTION_HOURS: "1",
    NOTIFICATION_URL: "http://127.0.0.1:9/",
    LOG_LEVEL: "warn",
  });
  try {
    await waitFor(
      "the old delivered event pruned",
      async () =>
        (await scalar<number>(db.pool, "select count(*)::int from ticketing.outbox where ticket_id = $1", [
          oldDelivered,
        ])) === 0,
    );
    assert.equal(
      await scalar<number>(db.pool, "select count(*)::int from ticketing.outbox where ticket_id = $1", [
        recentDelivered,
      ]),
      1,
    );
    assert.equal(
      await scalar<number>(
        db.pool,
        "select count(*)::int from ticketing.outbox where ticket_id = $1 and published_at is null",
        [oldUndelivered],
      ),
      1,
    );
    assert.equal(
      await scalar<number>(db.pool, "select count(*)::int from ticketing.ticket_status_audit"),
      audit,
      "the audit is kept whole",
    );
  } finally {
    await daemon.stop();
  }
});
