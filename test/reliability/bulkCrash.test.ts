// Crash recovery of a bulk refund: `kill -9` of the real daemon in the middle of a 50,000-ticket
// cancellation, then a new daemon and nothing else. The dead daemon's bulk job is freed by the new
// daemon's lifeline and resumes with the requests still pending: every ticket refunded exactly once,
// every request succeeded, every order cancelled, no job left locked.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { waitFor } from "../support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  bookkeepingViolations,
  lockedJobs,
  scalar,
  startCliDaemon,
  withoutScheduledSweeps,
} from "../support/reliability.ts";

const ORDERS = 10_000;
const PER_ORDER = 5;
const TICKETS = ORDERS * PER_ORDER;

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

test("SIGKILL mid-bulk, then a new daemon: every ticket refunded exactly once, every order cancelled", async () => {
  await db.pool.query("insert into ticketing.orders (id) select g from generate_series(1, $1::int) g", [ORDERS]);
  await db.pool.query(
    `insert into ticketing.tickets (id, order_id, valid_end)
     select g, (g - 1) / $2::int + 1, now() + interval '1 day' from generate_series(1, $1::int) g`,
    [TICKETS, PER_ORDER],
  );
  const config = withoutScheduledSweeps();
  const first = await startCliDaemon(db.url, {}, config);
  await db.pool.query(
    "select count(*) from ticketing.request_order_refunds(array(select generate_series(1, $1::bigint)), 'blackout')",
    [ORDERS],
  );
  const bulkId = await scalar<string>(db.pool, "select max(id)::text from ticketing.bulk_refunds");
  const succeeded = () =>
    scalar<number>(
      db.pool,
      "select count(*)::int from ticketing.ticket_requests where bulk_id = $1 and status = 'succeeded'",
      [bulkId],
    );
  await waitFor(
    "the bulk to be under way",
    async () => {
      const n = await succeeded();
      return n >= 1_000 && n < TICKETS - 10_000 ? n : undefined;
    },
    60_000,
  );
  first.child.kill("SIGKILL");
  await first.exit;
  await waitFor("the killed daemon's sessions to end", async () => {
    const sessions = await scalar<number>(
      db.pool,
      "select count(*)::int from pg_stat_activity where datname = current_database() and application_name like 'ticket-lifecycle%'",
    );
    return sessions === 0;
  });
  const byFirst = await succeeded();
  assert.ok(byFirst < TICKETS, "the first daemon was killed before it finished");
  // What the first daemon committed is consistent on its own: each succeeded request's ticket is refunded.
  assert.equal(
    await scalar<number>(
      db.pool,
      `select count(*)::int from ticketing.ticket_requests r join ticketing.tickets t on t.id = r.ticket_id
        where r.bulk_id = $1 and (r.status = 'succeeded') <> (t.status = 'refunded')`,
      [bulkId],
    ),
    0,
  );

  const second = await startCliDaemon(db.url, {}, config);
  try {
    await waitFor(
      "the bulk to finish",
      async () =>
        scalar<boolean>(db.pool, "select finished_at is not null from ticketing.bulk_refunds where id = $1", [bulkId]),
      120_000,
    );
    await waitFor("every job lock to go", async () => (await lockedJobs(db.pool)) === 0);
  } finally {
    await second.stop();
  }
  const { rows } = await db.pool.query(
    `select (select count(*)::int from ticketing.tickets where status = 'refunded') as refunded,
            (select count(*)::int from ticketing.ticket_status_audit where new_status = 'refunded') as audit,
            (select count(*)::int from ticketing.outbox where type = 'ticket.refunded') as events,
            (select count(*)::int from ticketing.ticket_requests where bulk_id = $1 and status = 'succeeded') as succeeded,
            (select count(*)::int from ticketing.orders where status = 'cancelled') as cancelled,
            (select done from ticketing.bulk_refunds where id = $1) as done`,
    [bulkId],
  );
  assert.deepEqual(rows[0], {
    refunded: TICKETS,
    audit: TICKETS,
    events: TICKETS,
    succeeded: TICKETS,
    cancelled: ORDERS,
    done: TICKETS,
  });
  assert.deepEqual(await bookkeepingViolations(db.pool), []);
});
