// Shutdown under load, on the real CLI: SIGTERM mid-sweep drains within a bounded time and the next start
// continues where it stopped; a second signal forces the exit and the next start takes the work over at
// once; a job that will not finish cannot hold the shutdown beyond its bound.
import assert from "node:assert/strict";
import { test } from "node:test";
import { knobs } from "../../src/config/knobs.ts";
import { queueSweep } from "../../src/sql/queueSweep.ts";
import { waitFor } from "../support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { startHttpStub } from "../support/httpStub.ts";
import {
  bookkeepingViolations,
  type CliDaemon,
  expiredTickets,
  lockedJobs,
  MID_SWEEP,
  scalar,
  seedExpiredOrders,
  startCliDaemon,
  withoutScheduledSweeps,
} from "../support/reliability.ts";

const { orders: ORDERS, perOrder: PER_ORDER, tickets: TICKETS } = MID_SWEEP;
/** A graceful shutdown longer than this is forced (src/commands/run.ts). */
const SHUTDOWN_BOUND_MS = knobs.shutdown.gracefulTimeoutMs;
/** The forced exit's hand-over (src/commands/run.ts) plus the exit itself, far below the hanging call's 45 s. */
const FORCED_EXIT_MS = 10_000;
/**
 * A lock left to age would hold the rest of the sweep for 30 s or more (the lifeline's bound); a next
 * start that takes the work over at once moves the sweep on well within this.
 */
const PICK_UP_MS = 15_000;

const expired = (db: TestDatabase) => expiredTickets(db.pool);
const sessions = (db: TestDatabase) =>
  scalar<number>(
    db.pool,
    "select count(*)::int from pg_stat_activity where datname = current_database() and application_name like 'ticket-lifecycle%'",
  );

async function sweepUnderWay(db: TestDatabase) {
  await seedExpiredOrders(db.pool, ORDERS, PER_ORDER);
  await queueSweep(db.pool);
  await waitFor(
    "the sweep to be under way",
    async () => {
      const n = await expired(db);
      return n >= 1_000 && n < TICKETS - 15_000;
    },
    60_000,
  );
}

async function assertSweptExactlyOnce(db: TestDatabase) {
  const { rows } = await db.pool.query(`
    select (select count(*)::int from ticketing.ticket_status_audit where new_status = 'expired') as audit,
           (select count(*)::int from ticketing.outbox where type = 'ticket.expired') as events,
           (select count(*)::int from ticketing.orders where status = 'completed') as completed`);
  assert.deepEqual(rows[0], { audit: TICKETS, events: TICKETS, completed: ORDERS });
  assert.deepEqual(await bookkeepingViolations(db.pool), []);
}

/** Starts the next daemon, which must pick the sweep up at once and finish it, each ticket exactly once. */
async function nextStartFinishesSweep(
  db: TestDatabase,
  config: string[],
  check: (daemon: CliDaemon) => Promise<void> = async () => {},
  env: Record<string, string> = {},
) {
  const stoppedAt = await expired(db);
  const next = await startCliDaemon(db.url, env, config);
  try {
    await waitFor(
      "the next start to pick the sweep up, no waiting for a lock to age",
      async () => (await expired(db)) > stoppedAt,
      PICK_UP_MS,
    );
    await waitFor("the sweep finished by the next start", async () => (await expired(db)) === TICKETS, 120_000);
    await check(next);
    await waitFor("no job left locked", async () => (await lockedJobs(db.pool)) === 0);
    await assertSweptExactlyOnce(db);
  } finally {
    assert.equal(await next.stop(), 0);
  }
}

test("SIGTERM mid-sweep: committed batches stay, the process exits 0 within the bound, the next start finishes the sweep", async () => {
  const db = await createTestDatabase();
  const config = withoutScheduledSweeps();
  try {
    const first = await startCliDaemon(db.url, {}, config);
    await sweepUnderWay(db);
    const signalledAt = Date.now();
    first.child.kill("SIGTERM");
    assert.equal(await first.exit, 0, first.lines.slice(-20).join("\n"));
    const drainMs = Date.now() - signalledAt;
    assert.ok(drainMs < SHUTDOWN_BOUND_MS, `drained in ${drainMs} ms`);
    assert.equal(await sessions(db), 0, "every connection closed");
    assert.equal(await lockedJobs(db.pool), 0, "nothing left locked");
    const stoppedAt = await expired(db);
    assert.ok(stoppedAt < TICKETS);
    const queued = await scalar<number>(
      db.pool,
      "select count(*)::int from graphile_worker.jobs where task_identifier = 'expire_tickets' and locked_at is null and attempts < max_attempts",
    );
    assert.equal(queued, 1, "the rest of the sweep is queued for the next start");

    await nextStartFinishesSweep(db, config);
  } finally {
    await db.drop();
  }
});

test("a second signal forces the exit at once; the next start takes over what it abandoned without waiting", async () => {
  const db = await createTestDatabase();
  const config = withoutScheduledSweeps();
  // A refund call that hangs keeps the graceful shutdown waiting, so the second signal always lands on it.
  let hang = true;
  const refundService = await startHttpStub(() => ({
    status: 200,
    body: { target_status: "refunded" },
    delayMs: hang ? 45_000 : 0,
  }));
  const env = { REFUND_SERVICE_URL: refundService.url, HTTP_TIMEOUT_MS: "60000" };
  const REFUNDED = 10_000_001;
  try {
    await db.pool.query("insert into ticketing.orders (id) values ($1)", [REFUNDED]);
    await db.pool.query(
      "insert into ticketing.tickets (id, order_id, valid_end) values ($1, $1, now() + interval '1 day')",
      [REFUNDED],
    );
    const first = await startCliDaemon(db.url, env, config);
    await db.pool.query("select ticketing.request_refund($1, 'abandoned-refund')", [REFUNDED]);
    await waitFor("the refund call in flight", async () => refundService.requests.length > 0, 30_000);
    await sweepUnderWay(db);
    first.child.kill("SIGTERM");
    const firstSignalAt = Date.now();
    await waitFor("the sweep to stop at its batch boundary", async () =>
      first.logs().some((l) => l.msg === "expiry sweep finished" && l.interrupted === true),
    );
    // A signal within the repeat window would count as the first one delivered twice. The window opens when the
    // daemon took the first signal (its "shutting down" line), which a loaded machine delivers late.
    const tookFirstAt = (first.logs().find((l) => l.msg === "shutting down: letting running jobs finish")?.time ??
      firstSignalAt) as number;
    await waitFor(
      "the repeat window to pass",
      async () => Date.now() - Math.max(firstSignalAt, tookFirstAt) > knobs.shutdown.repeatedSignalMs + 100,
    );
    const forcedAt = Date.now();
    first.child.kill("SIGTERM");
    assert.equal(await first.exit, 1);
    assert.ok(Date.now() - forcedAt < FORCED_EXIT_MS, "the forced exit does not wait for the hanging refund call");
    assert.ok(first.logs().some((l) => l.msg === "forced shutdown: handing this daemon's jobs over and exiting"));
    assert.ok((await expired(db)) < TICKETS, "the sweep was left unfinished");

    hang = false;
    // Taken over before a heartbeat could even age: the owner declared itself gone.
    await nextStartFinishesSweep(
      db,
      config,
      async (next) => {
        await waitFor(
          "the abandoned refund applied",
          async () =>
            (await scalar<string>(db.pool, "select status from ticketing.tickets where id = $1", [REFUNDED])) ===
            "refunded",
        );
        const rescue = next.logs().find((l) => l.msg === "released a job its worker no longer runs");
        assert.equal(
          rescue?.reason,
          "daemon_dead",
          "the abandoned refund job was released as its owner declared itself gone",
        );
        assert.equal(rescue?.task, "ticket_refund_requested");
      },
      env,
    );
  } finally {
    await refundService.close();
    await db.drop();
  }
});

test("a job that does not finish cannot hold the shutdown beyond its bound; the next start runs it again", async () => {
  const db = await createTestDatabase();
  let hang = true;
  const refundService = await startHttpStub(() =>
    hang
      ? { status: 200, body: { target_status: "refunded" }, delayMs: 45_000 }
      : { status: 200, body: { target_status: "refunded" } },
  );
  try {
    await db.pool.query("insert into ticketing.orders (id) values (1)");
    await db.pool.query(
      "insert into ticketing.tickets (id, order_id, valid_end) values (1, 1, now() + interval '1 day')",
    );
    const env = { REFUND_SERVICE_URL: refundService.url, HTTP_TIMEOUT_MS: "60000" };
    const first = await startCliDaemon(db.url, env);
    await db.pool.query("select ticketing.request_refund(1, 'slow-refund')");
    await waitFor("the refund call in flight", async () => refundService.requests.length > 0, 30_000);
    const signalledAt = Date.now();
    first.child.kill("SIGTERM");
    assert.equal(await first.exit, 1);
    const tookMs = Date.now() - signalledAt;
    assert.ok(tookMs >= SHUTDOWN_BOUND_MS - 1_000 && tookMs < SHUTDOWN_BOUND_MS + 10_000, `forced after ${tookMs} ms`);

    hang = false;
    const second = await startCliDaemon(db.url, env);
    try {
      // The rescue gives the dead attempt's lease on the request back: no waiting for it to run out.
      await waitFor(
        "the refund applied by the next start",
        async () => (await scalar<string>(db.pool, "select status from ticketing.tickets where id = 1")) === "refunded",
        30_000,
      );
      assert.equal(
        await scalar<number>(db.pool, "select count(*)::int from ticketing.ticket_status_audit where ticket_id = 1"),
        1,
      );
      await waitFor("no job left locked", async () => (await lockedJobs(db.pool)) === 0);
    } finally {
      assert.equal(await second.stop(), 0);
    }
  } finally {
    await refundService.close();
    await db.drop();
  }
});
