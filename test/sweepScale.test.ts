// Scale-out: two daemons (two runners, two pools) sweeping one backlog together.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestDaemon, waitFor } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

test("two runners sweeping 20,000 tickets together: each expired exactly once, every order completed", async () => {
  const orders = 5_000;
  await db.pool.query("insert into ticketing.orders (id) select g from generate_series(1, $1) g", [orders]);
  await db.pool.query(
    "insert into ticketing.tickets (id, order_id, valid_end) select g, (g - 1) / 4 + 1, now() - interval '1 minute' from generate_series(1, $1) g",
    [orders * 4],
  );
  // Each runner holds at most two jobs at once, so the four sweeps below land on both.
  const daemons = await Promise.all([
    startTestDaemon(db, { WORKER_CONCURRENCY: "2" }),
    startTestDaemon(db, { WORKER_CONCURRENCY: "2" }),
  ]);
  try {
    // Sweeps outside the shared queue, so both runners really work the same backlog at the same time.
    await db.pool.query(
      "select graphile_worker.add_job('expire_tickets', '{\"batch_size\": 200}'::json) from generate_series(1, 4)",
    );
    await waitFor(
      "backlog drained",
      async () =>
        (await db.pool.query("select count(*)::int as n from ticketing.tickets where status = 'usable'")).rows[0].n ===
        0,
      120_000,
    );
    const { rows } = await db.pool.query(`
      select (select count(*)::int from ticketing.tickets where status = 'expired') as expired,
             (select count(*)::int from ticketing.ticket_status_audit where new_status = 'expired') as audit,
             (select count(distinct ticket_id)::int from ticketing.ticket_status_audit) as audited_tickets,
             (select count(*)::int from ticketing.outbox where type = 'ticket.expired') as events,
             (select count(*)::int from ticketing.orders where status = 'completed') as completed,
             (select count(*)::int from ticketing.outbox where type = 'order.completed') as order_events`);
    assert.deepEqual(rows[0], {
      expired: 20_000,
      audit: 20_000,
      audited_tickets: 20_000,
      events: 20_000,
      completed: orders,
      order_events: orders,
    });
    const perDaemon = await Promise.all(
      daemons.map(async (d) => (await d.metrics.ticketsExpired.get()).values[0]?.value ?? 0),
    );
    assert.equal(
      perDaemon.reduce((a, b) => a + b, 0),
      20_000,
    );
    assert.ok(
      perDaemon.every((n) => n > 0),
      `both daemons expired tickets: ${perDaemon.join(", ")}`,
    );
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
  }
});
