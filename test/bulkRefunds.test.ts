// ticketing.request_refunds / request_order_refunds / plan_refunds and the batch drain (sql/14-bulk-refunds.sql):
// outcomes per ticket, a repeated call writing nothing, the arguments refused with TL422, one refused
// ticket failing only its own request.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { drainBulkRefund } from "../src/sql/drainBulkRefund.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { createOrder, driveTo, freshId, JOBS_SQL } from "./support/fixtures.ts";

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

const requestRefunds = async (ids: Array<number | string>, eventId: string, meta: object = {}) =>
  (
    await db.pool.query<{ ticket_id: string | null; outcome: string }>(
      "select ticket_id::text, outcome from ticketing.request_refunds($1::bigint[], $2, $3)",
      [ids, eventId, meta],
    )
  ).rows;

/** Every table a bulk call may write, counted: a call that must write nothing leaves these as they were. */
const footprint = async () =>
  (
    await db.pool.query(
      `select (select count(*)::int from ticketing.ticket_requests) as requests,
              (select count(*)::int from ticketing.bulk_refunds) as bulks,
              (select count(*)::int from graphile_worker.jobs) as jobs,
              (select count(*)::int from ticketing.ticket_status_audit) as audit,
              (select count(*)::int from ticketing.outbox) as outbox`,
    )
  ).rows[0];

test("one call: queued, duplicate, unknown and already_<terminal status> per ticket; one bulk row, one job", async () => {
  const { ticketIds } = await createOrder(db.pool, 6);
  const [usable, used, refunded, expired, changing, requested] = ticketIds as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  await driveTo(db.pool, used, "used");
  await driveTo(db.pool, refunded, "refunded");
  await driveTo(db.pool, expired, "expired");
  await driveTo(db.pool, changing, "changing");
  const unknown = freshId();
  // A request of this event for one ticket exists already: that ticket is a duplicate.
  await requestRefunds([requested], "concert-1");
  const before = await footprint();

  const outcomes = await requestRefunds(
    [usable, used, refunded, expired, changing, requested, unknown, usable],
    "concert-1",
    {
      reason: "cancelled",
    },
  );
  assert.deepEqual(
    outcomes.map((o) => [Number(o.ticket_id), o.outcome]),
    [
      [usable, "queued"],
      [used, "already_used"],
      [refunded, "already_refunded"],
      [expired, "already_expired"],
      [changing, "queued"],
      [requested, "duplicate"],
      [unknown, "unknown"],
    ],
  );
  const { rows: requests } = await db.pool.query(
    `select r.event_id, r.kind, r.status, r.meta, b.event_id as bulk_event_id, b.requested, b.meta as bulk_meta
       from ticketing.ticket_requests r join ticketing.bulk_refunds b on b.id = r.bulk_id
      where r.ticket_id = any($1) and b.id = (select max(id) from ticketing.bulk_refunds) order by r.ticket_id`,
    [[usable, changing]],
  );
  const pending = (ticketId: number) => ({
    event_id: `concert-1:${ticketId}`,
    kind: "refund",
    status: "pending",
    meta: { reason: "cancelled" },
    bulk_event_id: "concert-1",
    requested: 2,
    bulk_meta: { reason: "cancelled" },
  });
  assert.deepEqual(requests, [pending(usable), pending(changing)]);
  const after = await footprint();
  assert.deepEqual([after.requests - before.requests, after.bulks - before.bulks, after.jobs - before.jobs], [2, 1, 1]);
  const jobs = await db.pool.query(`${JOBS_SQL} where t.identifier = 'bulk_refund' order by j.id desc limit 1`);
  const bulkId = (await db.pool.query("select max(id)::text as id from ticketing.bulk_refunds")).rows[0].id;
  assert.deepEqual(jobs.rows[0].payload, { bulk_id: Number(bulkId) });

  // The same call again writes nothing: every ticket is a duplicate or cannot be refunded.
  const again = await requestRefunds([usable, used, changing, unknown], "concert-1");
  assert.deepEqual(
    again.map((o) => o.outcome),
    ["duplicate", "already_used", "duplicate", "unknown"],
  );
  assert.deepEqual(await footprint(), after);
});

test("request_order_refunds: every ticket of the orders, unknown orders named", async () => {
  const first = await createOrder(db.pool, 3);
  const second = await createOrder(db.pool, 2);
  await driveTo(db.pool, first.ticketIds[0] as number, "used");
  const unknownOrder = freshId();
  const { rows } = await db.pool.query<{ ticket_id: string | null; outcome: string }>(
    "select ticket_id::text, outcome from ticketing.request_order_refunds($1::bigint[], $2)",
    [[first.orderId, second.orderId, unknownOrder], "festival-9"],
  );
  assert.deepEqual(
    rows.map((r) => [r.ticket_id === null ? null : Number(r.ticket_id), r.outcome]),
    [
      [first.ticketIds[0], "already_used"],
      [first.ticketIds[1], "queued"],
      [first.ticketIds[2], "queued"],
      [second.ticketIds[0], "queued"],
      [second.ticketIds[1], "queued"],
      [null, "unknown_order"],
    ],
  );
});

test("64-bit ids above 2^53 come back exact", async () => {
  const orderId = "9007199254740993";
  const ticketId = "9223372036854775807";
  await db.pool.query("insert into ticketing.orders (id) values ($1)", [orderId]);
  await db.pool.query(
    "insert into ticketing.tickets (id, order_id, valid_end) values ($1, $2, now() + interval '1 day')",
    [ticketId, orderId],
  );
  assert.deepEqual(await requestRefunds([ticketId], "big-ids"), [{ ticket_id: ticketId, outcome: "queued" }]);
  const { rows } = await db.pool.query("select event_id from ticketing.ticket_requests where ticket_id = $1", [
    ticketId,
  ]);
  assert.equal(rows[0].event_id, `big-ids:${ticketId}`);
});

test("invalid arguments are refused with TL422 and write nothing", async () => {
  const before = await footprint();
  const refused = async (sql: string, params: unknown[], message: RegExp) =>
    assert.rejects(db.pool.query(sql, params), (error: { code?: string; message: string }) => {
      assert.equal(error.code, "TL422");
      assert.match(error.message, message);
      return true;
    });
  const tickets = "select * from ticketing.request_refunds($1::bigint[], $2, $3)";
  await refused(tickets, [null, "e", {}], /ticket_ids must be a non-empty array/);
  await refused(tickets, [[], "e", {}], /ticket_ids must be a non-empty array/);
  await refused(tickets, [[1, null], "e", {}], /ticket_ids contains null/);
  await refused(
    "select * from ticketing.request_refunds(array(select generate_series(1, 100001))::bigint[], 'e')",
    [],
    /100001 ids; the limit per call is 100000/,
  );
  await refused(tickets, [[1], null, {}], /event_id is required/);
  await refused(tickets, [[1], "x".repeat(181), {}], /limit is 180/);
  await refused(tickets, [[1], "e", "[]"], /meta must be a JSON object/);
  await refused("select * from ticketing.request_order_refunds($1::bigint[], $2)", [[], "e"], /order_ids must be/);
  assert.deepEqual(await footprint(), before);
});

test("plan_refunds (the dry run) says what a call would do and writes nothing", async () => {
  const { orderId, ticketIds } = await createOrder(db.pool, 3);
  await driveTo(db.pool, ticketIds[2] as number, "expired");
  const before = await footprint();
  const { rows } = await db.pool.query(
    "select ticket_id::int, outcome from ticketing.plan_order_refunds($1::bigint[], 'dry-1')",
    [[orderId]],
  );
  assert.deepEqual(rows, [
    { ticket_id: ticketIds[0], outcome: "queued" },
    { ticket_id: ticketIds[1], outcome: "queued" },
    { ticket_id: ticketIds[2], outcome: "already_expired" },
  ]);
  assert.deepEqual(await footprint(), before);
  // Read-only: it runs in a read-only transaction.
  const client = await db.pool.connect();
  try {
    await client.query("begin transaction read only");
    await client.query("select * from ticketing.plan_refunds($1::bigint[], 'dry-1')", [ticketIds]);
    await client.query("commit");
  } finally {
    client.release();
  }
});

test("a batch refunds its tickets through the state machine; a refused ticket fails only its own request", async () => {
  const { orderId, ticketIds } = await createOrder(db.pool, 4);
  const other = await createOrder(db.pool, 1);
  const eventId = `cancel-${freshId()}`;
  await requestRefunds([...ticketIds, ...other.ticketIds], eventId, { reason: "storm" });
  const bulkId = (await db.pool.query("select max(id)::text as id from ticketing.bulk_refunds")).rows[0].id as string;
  // Between the request and its processing, one ticket is redeemed at the gate.
  const redeemed = ticketIds[1] as number;
  await db.pool.query("select ticketing.redeem_ticket($1, 'gate-1')", [redeemed]);

  const batch = await drainBulkRefund(db.pool, bulkId, 100);
  assert.deepEqual(
    { ...batch, lastId: undefined },
    { succeeded: 4, failed: 1, skipped: 0, completedOrders: 1, cancelledOrders: 1, lastId: undefined },
  );
  const { rows } = await db.pool.query(
    `select t.id::int, t.status, r.status as request, r.error, a.event_id as audit_event, a.event as audit_event_name,
            a.meta as audit_meta, (select count(*)::int from ticketing.outbox o where o.ticket_id = t.id and o.type = 'ticket.refunded') as events
       from ticketing.tickets t
       join ticketing.ticket_requests r on r.ticket_id = t.id and r.bulk_id = $2
       left join ticketing.ticket_status_audit a on a.ticket_id = t.id and a.new_status = 'refunded'
      where t.id = any($1) order by t.id`,
    [[...ticketIds, ...other.ticketIds], bulkId],
  );
  for (const row of rows) {
    if (row.id === redeemed) {
      assert.deepEqual(
        [row.status, row.request, row.error, row.events],
        ["used", "failed", `state machine refuses used -> refunded for ticket ${redeemed}`, 0],
      );
    } else {
      assert.deepEqual(
        [row.status, row.request, row.error, row.audit_event, row.audit_event_name, row.audit_meta, row.events],
        ["refunded", "succeeded", null, eventId, "ticket.refund.bulk", { reason: "storm" }, 1],
      );
    }
  }
  const orders = await db.pool.query("select id::int, status from ticketing.orders where id = any($1) order by id", [
    [orderId, other.orderId],
  ]);
  // Three refunded and one used: completed; the other order's one ticket refunded: cancelled.
  assert.deepEqual(orders.rows, [
    { id: orderId, status: "completed" },
    { id: other.orderId, status: "cancelled" },
  ]);
  const alerts = await db.pool.query("select kind, details from ticketing.active_alerts where key = $1", [
    `bulk_refund_rejected:${bulkId}`,
  ]);
  assert.deepEqual(alerts.rows, [
    { kind: "request_rejected", details: { bulk_id: Number(bulkId), event_id: eventId } },
  ]);

  assert.equal((await drainBulkRefund(db.pool, bulkId, 100)).lastId, undefined);
  const progress = await db.pool.query(
    "select requested, done, failed, remaining from ticketing.bulk_refund_progress(false) where bulk_id = $1",
    [bulkId],
  );
  assert.deepEqual(progress.rows, [{ requested: 5, done: 4, failed: 1, remaining: 0 }]);
});

test("a batch skips a ticket another transaction holds, without waiting; its request stays pending", async () => {
  const { ticketIds } = await createOrder(db.pool, 3);
  await requestRefunds(ticketIds, `held-${freshId()}`);
  const bulkId = (await db.pool.query("select max(id)::text as id from ticketing.bulk_refunds")).rows[0].id as string;
  const holder = await db.pool.connect();
  try {
    await holder.query("begin");
    await holder.query("select 1 from ticketing.tickets where id = $1 for update", [ticketIds[0]]);
    const batch = await drainBulkRefund(db.pool, bulkId, 100);
    assert.deepEqual([batch.succeeded, batch.failed, batch.skipped], [2, 0, 1]);
    await holder.query("commit");
  } finally {
    holder.release();
  }
  const rest = await drainBulkRefund(db.pool, bulkId, 100);
  assert.deepEqual([rest.succeeded, rest.failed, rest.skipped], [1, 0, 0]);
  const finished = await db.pool.query("select ticketing.finish_bulk_refund($1) as finished", [bulkId]);
  assert.equal(finished.rows[0].finished, true);
});
