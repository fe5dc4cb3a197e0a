// Crash recovery: `kill -9` of the real daemon in the middle of a 50,000-ticket sweep, then a new daemon
// and nothing else — no job added by hand, no operator. The dead daemon's sweep job and queue are freed by
// the new daemon's lifeline within a minute and the sweep finishes: every ticket expired exactly once.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { queueSweep } from "../../src/sql/queueSweep.ts";
import { waitFor } from "../support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  bookkeepingViolations,
  expiredTickets,
  isRunning,
  lockedJobs,
  MID_SWEEP,
  scalar,
  seedExpiredOrders,
  startCliDaemon,
  withoutScheduledSweeps,
} from "../support/reliability.ts";

const { orders: ORDERS, perOrder: PER_ORDER, tickets: TICKETS } = MID_SWEEP;

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

test("SIGKILL mid-sweep, then a new daemon: every ticket expired exactly once, every order completed, no job left locked", async () => {
  await seedExpiredOrders(db.pool, ORDERS, PER_ORDER);
  const expiredCount = () => expiredTickets(db.pool);

  const config = withoutScheduledSweeps();
  const first = await startCliDaemon(db.url, {}, config);
  const sweepJob = await queueSweep(db.pool);
  await waitFor(
    "the sweep to be under way",
    async () => {
      const n = await expiredCount();
      return n >= 1_000 && n < TICKETS - 10_000 ? n : undefined;
    },
    60_000,
  );
  first.child.kill("SIGKILL");
  await first.exit;
  const killedAt = Date.now();
  // The server finishes (and commits) a batch statement already running for a killed client; only when
  // its sessions are gone is the count final.
  await waitFor("the killed daemon's sessions to end", async () => {
    const sessions = await scalar<number>(
      db.pool,
      "select count(*)::int from pg_stat_activity where datname = current_database() and application_name like 'ticket-lifecycle%'",
    );
    return sessions === 0;
  });
  const expiredByFirst = await expiredCount();
  const { rows: left } = await db.pool.query("select id, locked_by from graphile_worker._private_jobs where id = $1", [
    sweepJob,
  ]);
  assert.ok(left[0]?.locked_by, "the killed daemon still holds its sweep job");

  const second = await startCliDaemon(db.url, {}, config);
  try {
    await waitFor("the rest of the backlog expired", async () => (await expiredCount()) === TICKETS, 120_000);
    await waitFor("the sweep job to complete and every lock to go", async () => {
      const remaining = await scalar<number>(
        db.pool,
        "select count(*)::int from graphile_worker._private_jobs where id = $1",
        [sweepJob],
      );
      return remaining === 0 && (await lockedJobs(db.pool)) === 0;
    });

    const { rows } = await db.pool.query(`
      select (select count(*)::int from ticketing.ticket_status_audit where new_status = 'expired') as audit,
             (select count(distinct ticket_id)::int from ticketing.ticket_status_audit) as audited_tickets,
             (select count(*)::int from ticketing.outbox where type = 'ticket.expired') as events,
             (select count(*)::int from ticketing.orders where status = 'completed') as completed,
             (select count(*)::int from ticketing.outbox where type = 'order.completed') as order_events`);
    assert.deepEqual(rows[0], {
      audit: TICKETS,
      audited_tickets: TICKETS,
      events: TICKETS,
      completed: ORDERS,
      order_events: ORDERS,
    });
    assert.deepEqual(await bookkeepingViolations(db.pool), []);

    // The sweep the dead daemon held was freed by the new daemon's lifeline and finished there: the
    // same job, not a new one.
    const rescue = second
      .logs()
      .find((l) => l.msg === "released a job its worker no longer runs" && l.jobId === sweepJob);
    assert.ok(rescue, `the new daemon released job ${sweepJob}:\n${second.lines.slice(-30).join("\n")}`);
    assert.ok(["daemon_dead", "owner_unknown"].includes(rescue.reason as string));
    assert.equal(rescue.attemptReturned, true);
    const releasedAfterMs = (rescue.time as number) - killedAt;
    assert.ok(releasedAfterMs < 60_000, `released ${releasedAfterMs} ms after the kill`);
    const finished = second.logs().find((l) => l.msg === "expiry sweep finished" && l.jobId === sweepJob);
    assert.ok(finished, "the rescued job ran the rest of the sweep");
    assert.equal(finished.expired, TICKETS - expiredByFirst);
    const otherSweeps = second
      .logs()
      .filter((l) => l.msg === "expiry sweep finished" && l.jobId !== sweepJob && l.expired !== 0);
    assert.deepEqual(otherSweeps, [], "no other sweep did any of the work");
    assert.ok(isRunning(second));
  } finally {
    assert.equal(await second.stop(), 0, second.lines.slice(-20).join("\n"));
  }
});
