// An expiry sweep failing three times in a row raises one alert (counted in the database), the stalled-schedule
// alert, and the four lifecycle counters on /metrics equal to what the test caused.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parseCrontab } from "graphile-worker";
import { loadSchedule } from "../src/loadSchedule.ts";
import { createLogger } from "../src/logger.ts";
import { startAlertMonitor } from "../src/maintenance/alertMonitor.ts";
import { missedTicks, recentTicks } from "../src/maintenance/scheduleTicks.ts";
import { sweepJob } from "../src/sql/sweepJob.ts";
import { loadTaskDefinitions } from "../src/taskList.ts";
import { freePort } from "./support/cli.ts";
import { startTestDaemon, type TestDaemon, waitFor } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { asEngine } from "./support/engine.ts";
import { createOrder } from "./support/fixtures.ts";
import { startHttpStub } from "./support/httpStub.ts";

let db: TestDatabase;
let daemon: TestDaemon;
let changeStub: Awaited<ReturnType<typeof startHttpStub>>;
let metricsUrl: string;

before(async () => {
  db = await createTestDatabase();
  changeStub = await startHttpStub(() => ({ status: 409, body: { error: "no seats on the new date" } }));
  const port = await freePort();
  daemon = await startTestDaemon(db, { HTTP_PORT: String(port), CHANGE_SERVICE_URL: changeStub.url });
  metricsUrl = `http://127.0.0.1:${port}/metrics`;
});
after(async () => {
  await daemon.stop();
  await changeStub.close();
  await db.drop();
});

/** Prometheus text format → { "name{labels}": value }. */
async function scrape(): Promise<Map<string, number>> {
  const text = await (await fetch(metricsUrl)).text();
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return values;
}

const runSweep = async () => {
  const { rows } = await db.pool.query(
    "select id from graphile_worker.add_job('expire_tickets', '{\"batch_size\": 50}'::json, max_attempts => 1)",
  );
  const id = String(rows[0].id);
  // A failed run with max_attempts 1 stays in the table, permanently failed; a success is deleted.
  return waitFor(`sweep ${id} done`, async () => {
    // One read of the job row: a job being run is locked; a failed one is unlocked with its error kept.
    const { rows: job } = await db.pool.query(
      "select attempts, max_attempts, locked_by, last_error from graphile_worker._private_jobs where id = $1",
      [id],
    );
    if (job.length === 0) return "succeeded";
    return job[0].locked_by === null && job[0].last_error !== null && job[0].attempts >= job[0].max_attempts
      ? "failed"
      : undefined;
  });
};

describe("metrics", () => {
  test("/metrics carries the four lifecycle counters (expired, refunds applied, changes failed, orders completed), equal to what happened", async () => {
    const before = await scrape();
    for (const name of [
      "tickets_expired_total",
      "tickets_refund_success_total",
      "tickets_change_failed_total",
      "orders_completed_total",
    ]) {
      assert.ok(before.has(name), `${name} exported`);
    }
    // 3 orders of 2 tickets past valid_end: 6 expired, 3 orders completed by the sweep.
    for (let i = 0; i < 3; i++) await createOrder(db.pool, 2, "now() - interval '1 minute'");
    assert.equal(await runSweep(), "succeeded");
    // 2 refunds (built-in approve policy), 1 of them completing its single-ticket order.
    const refunds = await createOrder(db.pool, 2);
    for (const id of refunds.ticketIds)
      await db.pool.query("select ticketing.request_refund($1, $2)", [id, `m-refund-${id}`]);
    // 1 change refused by the change service (409).
    const change = await createOrder(db.pool, 1);
    await db.pool.query(
      "select ticketing.request_change($1, 'm-change', jsonb_build_object('valid_end', now() + interval '1 day'))",
      [change.ticketIds[0]],
    );
    await waitFor(
      "requests finished",
      async () =>
        (await db.pool.query("select count(*)::int as n from ticketing.ticket_requests where status = 'pending'"))
          .rows[0].n === 0,
    );
    // The daemon counts a request right after its commit, which the poll above may have seen first.
    const finished = (metrics: Map<string, number>) =>
      [...metrics]
        .filter(([name]) => name.startsWith("ticket_requests_finished_total"))
        .reduce((sum, [, value]) => sum + value, 0);
    const now = await waitFor("the finished requests counted", async () => {
      const metrics = await scrape();
      return finished(metrics) - finished(before) >= 3 ? metrics : undefined;
    });
    const delta = (name: string) => (now.get(name) ?? 0) - (before.get(name) ?? 0);
    assert.equal(delta("tickets_expired_total"), 6);
    assert.equal(delta("tickets_refund_success_total"), 2);
    assert.equal(delta("tickets_change_failed_total"), 1);
    assert.equal(delta("orders_completed_total"), 3);
    assert.equal(delta("orders_cancelled_total"), 1);
    assert.equal(now.get('ticket_requests_finished_total{kind="change",outcome="failed"}'), 1);
    assert.ok((now.get('job_duration_seconds_count{task="expire_tickets",result="success"}') ?? 0) >= 1);
    assert.ok((now.get("expire_batch_tickets_count") ?? 0) >= 1);
    // The refused change left the ticket changing: that needs a person, so it raised an alert.
    assert.equal(now.get('alerts_active{kind="request_rejected"}'), 1);
  });
});

describe("three failed sweeps in a row", () => {
  test("raise one alert (log, alert.raised event, gauge); a success clears it", async () => {
    // A failure injected in the database: every audit insert of the sweep now violates a constraint. Injected
    // before the tickets exist, so no sweep already under way can expire them first.
    await db.pool.query(
      "alter table ticketing.ticket_status_audit add constraint test_block_expiry check (event_id <> 'expire') not valid",
    );
    // Two tickets: when every ticket of a batch fails on its own too, the fault is not one ticket's and the
    // batch fails (a lone failing ticket would be set aside instead, see test/expiryPoison.test.ts).
    await createOrder(db.pool, 2, "now() - interval '1 minute'");
    try {
      for (let run = 1; run <= 4; run++) {
        assert.equal(await runSweep(), "failed");
        const { rows } = await db.pool.query(
          "select consecutive_failures from ticketing.job_health where task = 'expire_tickets'",
        );
        assert.equal(rows[0].consecutive_failures, run);
        const alerts = await db.pool.query(
          "select count(*)::int as n from ticketing.alerts where key = 'job_failing:expire_tickets'",
        );
        assert.equal(alerts.rows[0].n, run >= 3 ? 1 : 0, `after run ${run}`);
      }
      const metrics = await scrape();
      assert.equal(metrics.get('alerts_active{kind="job_failing"}'), 1);
      assert.equal(metrics.get('job_consecutive_failures{task="expire_tickets"}'), 4);
      const raised = await db.pool.query(
        "select payload from ticketing.outbox where type = 'alert.raised' and payload->>'key' = 'job_failing:expire_tickets'",
      );
      assert.equal(raised.rows.length, 1);
      assert.equal(raised.rows[0].payload.details.consecutive_failures, 3);
      assert.match(raised.rows[0].payload.details.last_error, /test_block_expiry/);
      const logged = daemon.logs.filter((l) => l.alert === "job_failing" && l.level === 50);
      assert.equal(logged.length, 1);
      assert.equal(logged[0]?.consecutiveFailures, 3);
    } finally {
      await db.pool.query("alter table ticketing.ticket_status_audit drop constraint test_block_expiry");
    }
    assert.equal(await runSweep(), "succeeded");
    const { rows } = await db.pool.query(
      "select cleared_at from ticketing.alerts where key = 'job_failing:expire_tickets'",
    );
    assert.ok(rows[0].cleared_at instanceof Date);
    const cleared = await db.pool.query(
      "select count(*)::int as n from ticketing.outbox where type = 'alert.cleared' and payload->>'key' = 'job_failing:expire_tickets'",
    );
    assert.equal(cleared.rows[0].n, 1);
    assert.equal((await scrape()).get('alerts_active{kind="job_failing"}'), 0);
    assert.equal(
      (await db.pool.query("select consecutive_failures from ticketing.job_health where task = 'expire_tickets'"))
        .rows[0].consecutive_failures,
      0,
    );
  });
});

describe("a stalled schedule", () => {
  const [everyFive] = parseCrontab("*/5 * * * * expire_tickets ?id=t");
  test("recentTicks and missedTicks count the schedule's ticks", () => {
    assert.ok(everyFive);
    const now = new Date("2026-03-04T10:17:30Z");
    assert.deepEqual(
      recentTicks(everyFive, now, 3).map((d) => d.toISOString()),
      ["2026-03-04T10:15:00.000Z", "2026-03-04T10:10:00.000Z", "2026-03-04T10:05:00.000Z"],
    );
    assert.equal(missedTicks(everyFive, new Date("2026-03-04T10:04:59Z"), now, 3), true);
    assert.equal(missedTicks(everyFive, new Date("2026-03-04T10:05:01Z"), now, 3), false);
  });

  test("no successful sweep for three ticks raises job_stalled once; the next success clears it", async () => {
    // Watching began an hour ago and no sweep has succeeded since (the job_health row says so; no API
    // backdates a success).
    await asEngine(
      db.pool,
      `insert into ticketing.job_health (task, last_success_at) values ('expire_tickets', now() - interval '2 hours')
       on conflict (task) do update set last_success_at = excluded.last_success_at`,
    );
    const log = createLogger("silent");
    const sweep = await sweepJob(db.pool);
    const schedule = loadSchedule({ definitions: await loadTaskDefinitions(), sweep });
    const monitor = startAlertMonitor(
      { pool: db.pool, log, schedule, sweepTask: sweep.task, watchingSince: new Date(Date.now() - 3_600_000) },
      { intervalMs: 50 },
    );
    try {
      await waitFor(
        "job_stalled raised",
        async () =>
          (await db.pool.query("select 1 from ticketing.alerts where key = 'job_stalled:expire_tickets'")).rowCount,
      );
      await new Promise((resolve) => setTimeout(resolve, 200)); // several more checks: still one alert
      assert.equal(
        (
          await db.pool.query(
            "select count(*)::int as n from ticketing.alerts where key = 'job_stalled:expire_tickets'",
          )
        ).rows[0].n,
        1,
      );
      assert.equal(
        (
          await db.pool.query(
            "select count(*)::int as n from ticketing.outbox where payload->>'key' = 'job_stalled:expire_tickets'",
          )
        ).rows[0].n,
        1,
      );
    } finally {
      await monitor.stop();
    }
    assert.equal(await runSweep(), "succeeded");
    const { rows } = await db.pool.query(
      "select cleared_at from ticketing.alerts where key = 'job_stalled:expire_tickets'",
    );
    assert.ok(rows[0].cleared_at instanceof Date);
  });
});
