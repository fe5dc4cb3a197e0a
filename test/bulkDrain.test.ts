// Bulk refunds through the real daemon: the bulk_refund job draining a cancellation with the built-in
// policy (rows, audit, events, orders cancelled), a graceful stop mid-bulk resumed by the next daemon,
// the refund job re-driving the bulk job rather than its requests one by one, progress on /metrics and
// in the logs, and the shared rate/concurrency limit toward refund-processing across two daemons.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createMetrics } from "../src/observability/metrics.ts";
import { drainBulkRefund } from "../src/sql/drainBulkRefund.ts";
import { redriveRequests } from "../src/sql/redriveRequests.ts";
import { startTestDaemon, waitFor } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { createOrder, driveTo, freshId, JOBS_SQL } from "./support/fixtures.ts";
import { startHttpStub } from "./support/httpStub.ts";
import { bookkeepingViolations, scalar } from "./support/reliability.ts";

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

/** `orders` orders of `perOrder` usable tickets with consecutive ids from `firstId`. */
async function seedOrders(orders: number, perOrder: number, firstId: number) {
  await db.pool.query(
    "insert into ticketing.orders (id) select g from generate_series($1::bigint, $1::bigint + $2::int - 1) g",
    [firstId, orders],
  );
  await db.pool.query(
    `insert into ticketing.tickets (id, order_id, valid_end)
     select g, $1::bigint + (g - $1::bigint) / $3::int, now() + interval '1 day'
       from generate_series($1::bigint, $1::bigint + $2::int * $3::int - 1) g`,
    [firstId, orders, perOrder],
  );
  return Array.from({ length: orders }, (_, i) => firstId + i);
}

const requestOrderRefunds = async (orderIds: number[], eventId: string) =>
  (
    await db.pool.query<{ outcome: string; n: number }>(
      "select outcome, count(*)::int as n from ticketing.request_order_refunds($1::bigint[], $2) group by outcome order by outcome",
      [orderIds, eventId],
    )
  ).rows;

const lastBulk = async () => scalar<string>(db.pool, "select max(id)::text from ticketing.bulk_refunds");
const bulkFinished = (bulkId: string) =>
  waitFor(
    `bulk ${bulkId} to finish`,
    async () =>
      (await scalar<boolean>(db.pool, "select finished_at is not null from ticketing.bulk_refunds where id = $1", [
        bulkId,
      ])) || undefined,
    60_000,
  );

test("a cancellation drains through the daemon: tickets refunded once, audited, events out, orders cancelled", async () => {
  const orderIds = await seedOrders(50, 4, 1_000_000);
  const used = 1_000_001;
  await driveTo(db.pool, used, "used");
  const eventId = "concert-cancelled-1";
  assert.deepEqual(await requestOrderRefunds(orderIds, eventId), [
    { outcome: "already_used", n: 1 },
    { outcome: "queued", n: 199 },
  ]);
  const bulkId = await lastBulk();
  const daemon = await startTestDaemon(db);
  try {
    await bulkFinished(bulkId);
    const { rows } = await db.pool.query(
      `select (select count(*)::int from ticketing.tickets where order_id = any($1) and status = 'refunded') as refunded,
              (select count(*)::int from ticketing.ticket_status_audit a join ticketing.tickets t on t.id = a.ticket_id
                where t.order_id = any($1) and a.new_status = 'refunded' and a.event_id = $2) as audit,
              (select count(*)::int from ticketing.outbox where type = 'ticket.refunded' and order_id = any($1)
                  and payload->>'cause_event_id' = $2) as ticket_events,
              (select count(*)::int from ticketing.orders where id = any($1) and status = 'cancelled') as cancelled,
              (select count(*)::int from ticketing.orders where id = any($1) and status = 'completed') as completed,
              (select count(*)::int from ticketing.outbox where order_id = any($1) and type = 'order.cancelled') as order_events,
              (select count(*)::int from ticketing.ticket_requests where bulk_id = $3 and status = 'succeeded') as succeeded,
              (select count(*)::int from graphile_worker.jobs where task_identifier = 'ticket_refund_requested') as request_jobs`,
      [orderIds, eventId, bulkId],
    );
    // 49 orders all refunded: cancelled; the one with a used ticket: completed. No per-request job at all.
    assert.deepEqual(rows[0], {
      refunded: 199,
      audit: 199,
      ticket_events: 199,
      cancelled: 49,
      completed: 1,
      order_events: 49,
      succeeded: 199,
      request_jobs: 0,
    });
    assert.deepEqual(await bookkeepingViolations(db.pool), []);
    // The line follows the commit that finished the bulk (and one more read of its progress).
    const finished = await waitFor("the bulk's last log line", async () =>
      daemon.logs.find((l) => l.msg === "bulk refund finished" && l.bulkId === bulkId),
    );
    assert.deepEqual(
      [finished.eventId, finished.requested, finished.done, finished.failed, finished.remaining],
      [eventId, 199, 199, 0, 0],
    );
    const metrics = await daemon.metrics.registry.metrics();
    assert.match(metrics, /^bulk_refunds_in_progress 0$/m);
    assert.match(metrics, /^tickets_refund_success_total 199$/m);
  } finally {
    await daemon.stop();
  }
});

test("progress on /metrics is read from the database at each scrape", async () => {
  const { ticketIds } = await createOrder(db.pool, 5);
  await db.pool.query("select * from ticketing.request_refunds($1::bigint[], 'metrics-1')", [ticketIds]);
  const bulkId = await lastBulk();
  const metrics = createMetrics(db.pool);
  const read = async () => {
    const text = await metrics.registry.metrics();
    const value = (line: string) =>
      Number(text.match(new RegExp(`^${line.replace(/[{}]/g, "\\$&")} (\\d+)$`, "m"))?.[1]);
    return {
      inProgress: value("bulk_refunds_in_progress"),
      requested: value('bulk_refund_tickets{state="requested"}'),
      done: value('bulk_refund_tickets{state="done"}'),
      failed: value('bulk_refund_tickets{state="failed"}'),
      remaining: value('bulk_refund_tickets{state="remaining"}'),
    };
  };
  assert.deepEqual(await read(), { inProgress: 1, requested: 5, done: 0, failed: 0, remaining: 5 });
  await driveTo(db.pool, ticketIds[0] as number, "used");
  await drainBulkRefund(db.pool, bulkId, 3);
  assert.deepEqual(await read(), { inProgress: 1, requested: 5, done: 2, failed: 1, remaining: 2 });
  await drainBulkRefund(db.pool, bulkId, 3);
  await db.pool.query("select ticketing.finish_bulk_refund($1)", [bulkId]);
  assert.deepEqual(await read(), { inProgress: 0, requested: 0, done: 0, failed: 0, remaining: 0 });
});

test("a daemon stopped mid-bulk leaves its finished batches committed; the next daemon finishes the rest", async () => {
  const orderIds = await seedOrders(5_000, 4, 2_000_000);
  const tickets = 20_000;
  await requestOrderRefunds(orderIds, "storm-1");
  const bulkId = await lastBulk();
  const refunded = () =>
    scalar<number>(
      db.pool,
      "select count(*)::int from ticketing.ticket_requests where bulk_id = $1 and status = 'succeeded'",
      [bulkId],
    );
  const first = await startTestDaemon(db);
  try {
    await waitFor("the bulk to be under way", async () => ((await refunded()) >= 500 ? true : undefined), 60_000);
  } finally {
    await first.stop();
  }
  const doneByFirst = await refunded();
  assert.ok(doneByFirst < tickets, `the first daemon finished all ${tickets} before it stopped`);
  assert.ok(first.logs.some((l) => l.msg === "bulk refund interrupted; queued again" && l.bulkId === bulkId));
  const queued = await db.pool.query(`${JOBS_SQL} where t.identifier = 'bulk_refund' and j.key = $1`, [
    `bulk_refund:${bulkId}`,
  ]);
  assert.equal(queued.rows.length, 1, "the bulk's job is queued again for the next daemon");

  const second = await startTestDaemon(db);
  try {
    await bulkFinished(bulkId);
  } finally {
    await second.stop();
  }
  assert.equal(await refunded(), tickets);
  const audit = await scalar<number>(
    db.pool,
    "select count(*)::int from ticketing.ticket_status_audit where event_id = 'storm-1' and new_status = 'refunded'",
  );
  assert.equal(audit, tickets);
  assert.deepEqual(await bookkeepingViolations(db.pool), []);
});

test("the refund job re-drives a bulk's job, never its unfed requests one by one", async () => {
  const redriven = async () =>
    (await redriveRequests(db.pool, 0, 1000, 5)).reduce((sum, { redriven }) => sum + redriven, 0);
  const { ticketIds } = await createOrder(db.pool, 30);
  await db.pool.query("select * from ticketing.request_refunds($1::bigint[], $2)", [ticketIds, `lost-${freshId()}`]);
  const bulkId = await lastBulk();
  // The bulk's job is lost (deleted by an operator, say).
  await db.pool.query("select graphile_worker.remove_job($1)", [`bulk_refund:${bulkId}`]);
  const single = (await createOrder(db.pool, 1)).ticketIds[0] as number;
  await db.pool.query("select ticketing.request_refund($1, $2)", [single, `single-${single}`]);
  await db.pool.query("select graphile_worker.remove_job($1)", [`request:single-${single}`]);

  assert.equal(await redriven(), 2);
  const { rows } = await db.pool.query<{ task_identifier: string; key: string }>(
    `${JOBS_SQL} where j.key = any($1) or t.identifier = 'ticket_refund_requested' order by j.key`,
    [[`bulk_refund:${bulkId}`]],
  );
  assert.deepEqual(
    rows.map((r) => [r.task_identifier, r.key]),
    [
      ["bulk_refund", `bulk_refund:${bulkId}`],
      ["ticket_refund_requested", `request:single-${single}`],
    ],
  );
  // While their jobs exist (the bulk's and the single request's) neither is added again.
  assert.equal(await redriven(), 0);
  await db.pool.query("select graphile_worker.remove_job($1)", [`bulk_refund:${bulkId}`]);
  await db.pool.query("select graphile_worker.remove_job($1)", [`request:single-${single}`]);
  // Clear the requests so the next tests' daemons start from nothing pending.
  await drainBulkRefund(db.pool, bulkId, 100);
  await db.pool.query("select ticketing.finish_bulk_refund($1)", [bulkId]);
  await db.pool.query("select ticketing.fail_request($1, null, 'test over', false)", [`single-${single}`]);
});

/**
 * A bulk of `tickets` handed to refund-processing by two daemons with `limits` in their environment; the
 * stand-in service answers after `callMs` and records when each call started and how many ran at once.
 */
async function refundThroughService(tickets: number, callMs: number, limits: Record<string, string>) {
  let inFlight = 0;
  let maxInFlight = 0;
  const startedAt: number[] = [];
  const service = await startHttpStub(async () => {
    startedAt.push(performance.now());
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((resolve) => setTimeout(resolve, callMs));
    inFlight -= 1;
    return { status: 200, body: { target_status: "refunded" } };
  });
  const env = { REFUND_SERVICE_URL: service.url, WORKER_CONCURRENCY: "8", ...limits };
  const daemons = await Promise.all([startTestDaemon(db, env), startTestDaemon(db, env)]);
  try {
    const { ticketIds } = await createOrder(db.pool, tickets);
    await db.pool.query("select * from ticketing.request_refunds($1::bigint[], $2)", [
      ticketIds,
      `limited-${freshId()}`,
    ]);
    await bulkFinished(await lastBulk());
    const refunded = await scalar<number>(
      db.pool,
      "select count(*)::int from ticketing.tickets where id = any($1) and status = 'refunded'",
      [ticketIds],
    );
    assert.equal(refunded, tickets);
    // One call per request, each through the service, from both daemons.
    assert.equal(service.requests.length, tickets);
    const callers = daemons.filter((d) => d.logs.some((l) => l.msg === "request applied"));
    assert.equal(callers.length, 2, "both daemons called the service");
    startedAt.sort((a, b) => a - b);
    let busiestSecond = 0;
    for (let i = 0, j = 0; i < startedAt.length; i++) {
      while ((startedAt[i] as number) - (startedAt[j] as number) >= 1000) j++;
      busiestSecond = Math.max(busiestSecond, i - j + 1);
    }
    return { maxInFlight, busiestSecond };
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
    await service.close();
  }
}

test("two daemons together start at most REFUND_SERVICE_RATE calls per second at refund-processing", async () => {
  const { busiestSecond } = await refundThroughService(50, 10, { REFUND_SERVICE_RATE: "20" });
  // Starts are 1/rate apart at the database (at most 20 in any second); two more allow for the jitter between
  // the database's clock and the arrival at the service on a loaded machine. Without the limit: 40-50.
  assert.ok(busiestSecond <= 22, `${busiestSecond} calls started within one second; the limit is 20/s`);
});

test("two daemons together have at most REFUND_SERVICE_CONCURRENCY calls in flight at refund-processing", async () => {
  const { maxInFlight } = await refundThroughService(30, 200, { REFUND_SERVICE_CONCURRENCY: "3" });
  assert.equal(maxInFlight, 3, `${maxInFlight} calls in flight at once; the limit is 3`);
});
