// Duplicate storms: the same event from 40 connections released at the same instant. Half call the SQL API
// (as ticketing_client), half enqueue the raw job, as another service might; the daemon runs them all.
// One transition, one audit row, one event, one request row, whatever the interleaving.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type pg from "pg";
import { startTestDaemon, type TestDaemon, waitFor } from "../support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrder } from "../support/fixtures.ts";
import { atOnce, bookkeepingViolations, lockedJobs, scalar } from "../support/reliability.ts";

const CONNECTIONS = 40;
const ROUNDS = 5;

let db: TestDatabase;
let daemon: TestDaemon;
let storm: pg.Pool;
before(async () => {
  db = await createTestDatabase();
  daemon = await startTestDaemon(db, { WORKER_CONCURRENCY: "8", LOG_LEVEL: "info" });
  storm = db.openPool(CONNECTIONS);
});
after(async () => {
  await daemon.stop();
  await db.drop();
});

test(`the same refund event from ${CONNECTIONS} connections at once, API and raw add_job mixed: one transition, one event`, async () => {
  for (let round = 1; round <= ROUNDS; round++) {
    const { orderId, ticketIds } = await createOrder(db.pool, 1);
    const ticketId = ticketIds[0] as number;
    const eventId = `storm-refund-${round}`;
    const results = await atOnce(
      storm,
      Array.from({ length: CONNECTIONS }, (_, i) =>
        i % 2 === 0
          ? {
              text: "select ticketing.request_refund($1, $2) as r",
              values: [ticketId, eventId],
              role: "ticketing_client",
            }
          : {
              text: "select graphile_worker.add_job('ticket_refund_requested', json_build_object('ticket_id', $1::bigint, 'event_id', $2::text))",
              values: [ticketId, eventId],
            },
      ),
    );
    assert.deepEqual(
      results.filter((r) => !r.ok),
      [],
    );
    const outcomes = results.flatMap((r, i) => (i % 2 === 0 && r.ok ? [r.r] : []));
    assert.equal(
      outcomes.filter((o) => o === "queued").length,
      1,
      `one request_refund queued it: ${outcomes.join(",")}`,
    );

    await waitFor(`storm ${round} processed`, async () => {
      const pendingJobs = await scalar<number>(
        db.pool,
        "select count(*)::int from graphile_worker._private_jobs where payload->>'event_id' = $1",
        [eventId],
      );
      const status = await scalar<string>(db.pool, "select status from ticketing.ticket_requests where event_id = $1", [
        eventId,
      ]);
      return pendingJobs === 0 && status === "succeeded";
    });
    const { rows } = await db.pool.query(
      `select (select status from ticketing.tickets where id = $1) as status,
              (select count(*)::int from ticketing.ticket_status_audit where ticket_id = $1) as audit,
              (select count(*)::int from ticketing.outbox where ticket_id = $1) as events,
              (select count(*)::int from ticketing.outbox where order_id = $2 and type = 'order.cancelled') as order_events,
              (select count(*)::int from ticketing.ticket_requests where ticket_id = $1) as requests`,
      [ticketId, orderId],
    );
    assert.deepEqual(rows[0], { status: "refunded", audit: 1, events: 1, order_events: 1, requests: 1 });
  }
  assert.deepEqual(await bookkeepingViolations(db.pool), []);
  // A scheduled job may be running at this instant; what must not exist is a lock that stays.
  await waitFor("no job left locked", async () => (await lockedJobs(db.pool)) === 0);
  assert.equal(
    await scalar<number>(
      db.pool,
      "select count(*)::int from graphile_worker._private_jobs where last_error is not null",
    ),
    0,
  );
  assert.equal(await daemon.ready(), true);
});

test(`the same redemption from ${CONNECTIONS} gates at once: one applied, the rest duplicates, one event`, async () => {
  const { ticketIds } = await createOrder(db.pool, 2);
  const ticketId = ticketIds[0] as number;
  const results = await atOnce(
    storm,
    Array.from({ length: CONNECTIONS }, () => ({
      text: "select ticketing.redeem_ticket($1, 'gate-scan-1') as r",
      values: [ticketId],
      role: "ticketing_client",
    })),
  );
  const outcomes = results.map((r) => (r.ok ? r.r : `error ${r.code}`));
  assert.equal(outcomes.filter((o) => o === "applied").length, 1);
  assert.equal(outcomes.filter((o) => o === "duplicate").length, CONNECTIONS - 1);
  assert.equal(
    await scalar<number>(db.pool, "select count(*)::int from ticketing.outbox where ticket_id = $1", [ticketId]),
    1,
  );
  assert.equal(
    await scalar<number>(db.pool, "select count(*)::int from ticketing.ticket_status_audit where ticket_id = $1", [
      ticketId,
    ]),
    1,
  );
});
