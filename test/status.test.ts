// The operator commands: `status [--json]` over the ticketing.status_* views (sql/6-operator-views.sql)
// and `demo`, run as the real CLI against this file's databases.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { startTestDaemon, waitFor } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { asEngine } from "./support/engine.ts";
import { createOrder, driveTo } from "./support/fixtures.ts";
import { startHttpStub } from "./support/httpStub.ts";

const BIN = path.resolve("bin/ticket-lifecycle.js");

/** The real CLI against `db`; stdout and stderr apart, so a JSON report can be parsed as it is. */
async function cli(db: TestDatabase, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const env = { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: "info", HTTP_PORT: "0" };
  return promisify(execFile)(process.execPath, [BIN, ...args], { env });
}

describe("status", () => {
  let db: TestDatabase;
  let expectedOutbox: { backlog: number; retrying: number; oldest: string; delivered: number };

  before(async () => {
    db = await createTestDatabase();
    const q = (sql: string, params: unknown[] = []) => db.pool.query(sql, params);
    // Tickets: usable 2, used 1, refunded 3, expired 1, changing 1, changed 1.
    const done = await createOrder(db.pool, 3);
    await driveTo(db.pool, done.ticketIds[0] as number, "used");
    await driveTo(db.pool, done.ticketIds[1] as number, "refunded");
    await driveTo(db.pool, done.ticketIds[2] as number, "expired");
    const open = await createOrder(db.pool, 2);
    const cancelled = await createOrder(db.pool, 2);
    for (const id of cancelled.ticketIds) await driveTo(db.pool, id, "refunded");
    const changing = await createOrder(db.pool, 2);
    await driveTo(db.pool, changing.ticketIds[0] as number, "changing");
    await driveTo(db.pool, changing.ticketIds[1] as number, "changed");
    // Requests: one refund pending (its job waiting), one change failed with an alert.
    await q("select ticketing.request_refund($1, 'status-refund-1')", [open.ticketIds[0]]);
    await q(
      "select ticketing.request_change($1, 'status-change-1', jsonb_build_object('valid_end', now() + interval '1 day'))",
      [open.ticketIds[1]],
    );
    await q("select ticketing.fail_request('status-change-1', null, 'change service said no', true)");
    // Jobs: a sweep scheduled for later, one job out of attempts, one held by a worker.
    await q("select graphile_worker.add_job('expire_tickets', '{}'::json, run_at => now() + interval '1 hour')");
    const failed = await q(
      "select id from graphile_worker.add_job('check_order', '{\"order_id\": 1}'::json, max_attempts => 1)",
    );
    await q("update graphile_worker._private_jobs set attempts = 1, last_error = 'boom' where id = $1", [
      failed.rows[0].id,
    ]);
    const held = await q("select id from graphile_worker.add_job('redrive_requests', '{}'::json)");
    await q("update graphile_worker._private_jobs set locked_at = now(), locked_by = 'worker-test' where id = $1", [
      held.rows[0].id,
    ]);
    // Outbox: all delivered but the three newest events, one of which failed twice already.
    const { rows } = await q("select id, created_at from ticketing.outbox order by id");
    const undelivered = rows.slice(-3);
    // (as the delivery functions would have: only the engine writes the outbox)
    await asEngine(db.pool, "update ticketing.outbox set published_at = now() where id <> all($1::bigint[])", [
      undelivered.map((r) => r.id),
    ]);
    await asEngine(db.pool, "update ticketing.outbox set attempts = 2, last_error = 'answered 503' where id = $1", [
      undelivered[0].id,
    ]);
    expectedOutbox = {
      backlog: 3,
      retrying: 1,
      oldest: (undelivered[0].created_at as Date).toISOString(),
      delivered: rows.length - 3,
    };
  });
  after(async () => {
    await db.drop();
  });

  test("--json: one object with stable keys and the database's numbers", async () => {
    const { stdout } = await cli(db, ["status", "--json"]);
    const report = JSON.parse(stdout);
    assert.deepEqual(Object.keys(report), ["tickets", "orders", "jobs", "outbox", "requests", "alerts", "quarantined"]);
    assert.deepEqual(report.quarantined, []);
    assert.deepEqual(report.tickets, { changed: 1, changing: 1, usable: 2, expired: 1, refunded: 3, used: 1 });
    assert.deepEqual(report.orders, { open: 2, completed: 1, cancelled: 1 });
    assert.deepEqual(report.jobs, {
      check_order: { waiting: 0, scheduled: 0, running: 0, failed: 1 },
      expire_tickets: { waiting: 0, scheduled: 1, running: 0, failed: 0 },
      redrive_requests: { waiting: 0, scheduled: 0, running: 1, failed: 0 },
      ticket_change_requested: { waiting: 1, scheduled: 0, running: 0, failed: 0 },
      ticket_refund_requested: { waiting: 1, scheduled: 0, running: 0, failed: 0 },
    });
    const { oldest_undelivered_age_seconds: age, ...outbox } = report.outbox;
    assert.deepEqual(outbox, {
      backlog: expectedOutbox.backlog,
      retrying: expectedOutbox.retrying,
      oldest_undelivered_at: expectedOutbox.oldest,
      delivered: expectedOutbox.delivered,
    });
    assert.ok(Number.isInteger(age) && age >= 0 && age < 120);
    assert.deepEqual(report.requests, {
      refund: { pending: 1, succeeded: 0, failed: 0 },
      change: { pending: 0, succeeded: 0, failed: 1 },
    });
    assert.equal(report.alerts.length, 1);
    const [alert] = report.alerts;
    assert.equal(alert.key, "request_rejected:status-change-1");
    assert.equal(alert.kind, "request_rejected");
    assert.match(alert.message, /change service said no/);
    assert.equal(alert.details.event_id, "status-change-1");
    assert.ok(!Number.isNaN(Date.parse(alert.raised_at)));
  });

  test("without --json: a table per section", async () => {
    const { stdout, stderr } = await cli(db, ["status"]);
    for (const title of ["tickets", "orders", "jobs", "outbox", "requests", "quarantined tickets", "active alerts"])
      assert.match(stdout, new RegExp(`^${title}$`, "m"));
    assert.match(stdout, /^ {2}refunded +3$/m);
    assert.match(stdout, /^ {2}cancelled +1$/m);
    assert.match(stdout, /^ {2}task +waiting +scheduled +running +failed$/m);
    assert.match(stdout, /^ {2}check_order +0 +0 +0 +1$/m);
    assert.match(stdout, /^ {2}undelivered \(backlog\) +3$/m);
    assert.match(stdout, /^ {2}change +0 +0 +1$/m);
    assert.match(stdout, /request_rejected +request_rejected:status-change-1 +change request status-change-1/);
    assert.equal(stderr, "", "routine log lines stay out of an operator's report");
  });

  test("the views are readable by ticketing_reader and ticketing_client", async () => {
    const client = await db.pool.connect();
    try {
      for (const role of ["ticketing_reader", "ticketing_client"]) {
        await client.query(`set role ${role}`);
        for (const view of [
          "status_tickets",
          "status_orders",
          "status_outbox",
          "status_requests",
          "active_alerts",
          "status_jobs",
        ]) {
          const { rowCount } = await client.query(`select * from ticketing.${view}`);
          assert.ok((rowCount ?? 0) > 0, `${role} reads ticketing.${view}`);
        }
        await client.query("reset role");
      }
    } finally {
      client.release();
    }
  });
});

describe("demo", () => {
  test("seeds a data set in which the daemon expires, completes orders, runs the requests and delivers every event", async () => {
    const db = await createTestDatabase();
    const stub = await startHttpStub(() => ({ status: 200 }));
    try {
      // An order that is already there: the demo's ids start above it.
      const existing = await createOrder(db.pool, 2);
      const orderBase = existing.orderId;
      const ticketBase = existing.ticketIds[1] as number;
      const first = await cli(db, ["demo"]);
      assert.ok(
        first.stdout.includes(
          `demo data seeded: 20 orders (ids ${orderBase + 1}–${orderBase + 20}), 60 tickets (ids ${ticketBase + 1}–${ticketBase + 60})`,
        ),
        first.stdout,
      );
      const seeded = await db.pool.query(
        `select
          (select count(*)::int from ticketing.tickets where id > $1 and valid_end < now()) as past,
          (select count(*)::int from ticketing.tickets where status = 'used') as used,
          (select count(*)::int from ticketing.ticket_requests) as requests,
          (select count(*)::int from graphile_worker.jobs where task_identifier = 'expire_tickets' and run_at <= now()) as sweeps`,
        [ticketBase],
      );
      assert.deepEqual(seeded.rows[0], { past: 23, used: 14, requests: 2, sweeps: 1 });

      const daemon = await startTestDaemon(db, { NOTIFICATION_URL: stub.url });
      try {
        const status = await waitFor("demo played out", async () => {
          const { rows } = await db.pool.query(
            `select
              (select count(*)::int from ticketing.orders where id > $1 and status = 'completed') as completed,
              (select count(*)::int from ticketing.tickets where status = 'expired') as expired,
              (select count(*)::int from ticketing.ticket_requests where status = 'succeeded') as requests,
              (select count(*)::int from ticketing.outbox where published_at is null) as backlog,
              (select count(*)::int from ticketing.outbox) as events`,
            [orderBase],
          );
          const r = rows[0];
          return r.completed === 12 && r.expired === 23 && r.requests === 2 && r.backlog === 0 ? r : undefined;
        });
        assert.equal(stub.requests.length, status.events);
        const types = new Set(stub.requests.map((r) => (r.json as { type: string }).type));
        for (const type of [
          "ticket.used",
          "ticket.expired",
          "ticket.refunded",
          "ticket.changing",
          "ticket.changed",
          "ticket.reissued",
          "order.completed",
        ]) {
          assert.ok(types.has(type), `${type} delivered`);
        }
      } finally {
        await daemon.stop();
      }
      const second = await cli(db, ["demo"]);
      assert.ok(
        second.stdout.includes(
          `20 orders (ids ${orderBase + 21}–${orderBase + 40}), 60 tickets (ids ${ticketBase + 61}–${ticketBase + 120})`,
        ),
        second.stdout,
      );
    } finally {
      await stub.close();
      await db.drop();
    }
  });

  test("refuses a login that could not write its data by hand: the daemon's executes every function, yet seeds nothing", async () => {
    const db = await createTestDatabase();
    try {
      const env = { ...process.env, DATABASE_URL: db.urlAs("daemon"), LOG_LEVEL: "warn", HTTP_PORT: "0" };
      const run = promisify(execFile)(process.execPath, [BIN, "demo"], { env });
      await assert.rejects(run, (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 1);
        assert.match(error.stderr, /ticketing_test_daemon may not seed the demo: run it as the database owner/);
        return true;
      });
      const { rows } = await db.pool.query(
        "select (select count(*)::int from ticketing.orders) as orders, (select count(*)::int from ticketing.tickets) as tickets",
      );
      assert.deepEqual(rows[0], { orders: 0, tickets: 0 });
    } finally {
      await db.drop();
    }
  });
});
