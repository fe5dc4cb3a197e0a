// Poison isolation in the expiry sweep (ticketing.expire_batch, sql/10-expiry-isolation.sql): a ticket whose
// transition always fails is set aside with an alert, the rest of its batch expires, and it expires on a
// later sweep once the fault is gone. Also: an order that finishes a second time gets an event id of its own.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type pg from "pg";
import { createMetrics } from "../src/observability/metrics.ts";
import { expireBatch } from "../src/sql/expireBatch.ts";
import { readStatus } from "../src/sql/readStatus.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { asEngine } from "./support/engine.ts";
import { createOrder, freshId } from "./support/fixtures.ts";

let db: TestDatabase;
// One connection for every sweep: a backend reports an error before it releases its locks, so a sweep on
// another connection right after a failed one could find that batch's tickets still locked and skip them.
let sweeper: pg.PoolClient;
before(async () => {
  db = await createTestDatabase();
  sweeper = await db.pool.connect();
});
after(async () => {
  sweeper.release();
  await db.drop();
});

const PAST = "now() - interval '1 hour'";
const sweep = (retrySeconds: number) => expireBatch(sweeper, { batchSize: 200, graceSeconds: 0, retrySeconds });

/** The event id the ticket's next transition will write, taken first: that transition can never succeed. */
const plant = (ticketId: number) =>
  asEngine(
    db.pool,
    `insert into ticketing.outbox (event_id, type, ticket_id, payload)
     select format('ticket:%s:%s', t.id, t.seq + 1), 'planted', t.id, '{}' from ticketing.tickets t where t.id = $1`,
    [ticketId],
  );
const unplant = (ticketId: number) =>
  asEngine(db.pool, "delete from ticketing.outbox where ticket_id = $1 and type = 'planted'", [ticketId]);

const statuses = async (ids: number[]) =>
  (
    await db.pool.query<{ status: string }>("select status from ticketing.tickets where id = any($1) order by id", [
      ids,
    ])
  ).rows.map((r) => r.status);

const quarantine = async () =>
  (
    await db.pool.query<{ ticket_id: string; order_id: string; attempts: number; sqlstate: string; error: string }>(
      "select ticket_id::text, order_id::text, attempts, sqlstate, error from ticketing.status_quarantine order by ticket_id",
    )
  ).rows;

const alertsOf = async (ticketId: number) =>
  (
    await db.pool.query<{ kind: string; message: string; details: Record<string, unknown>; cleared: boolean }>(
      `select kind, message, details, cleared_at is not null as cleared from ticketing.alerts
        where key = $1 order by id`,
      [`ticket_quarantined:${ticketId}`],
    )
  ).rows;

const gauge = async () => {
  const metrics = createMetrics(db.pool);
  const text = await metrics.registry.metrics();
  return Number(/^tickets_quarantined (\d+)$/m.exec(text)?.[1]);
};

test("a ticket whose expiry always fails is set aside and alerted; the rest of its batch expires; it expires once the fault is gone", async () => {
  const poisoned = await createOrder(db.pool, 3, PAST);
  const other = await createOrder(db.pool, 3, PAST);
  const offender = poisoned.ticketIds[1] as number;
  await plant(offender);

  // retry_seconds 0: the offender is due again at once, so the next sweep tries it again.
  const first = await sweep(0);
  assert.equal(first.expired, 5);
  assert.deepEqual(first.quarantined, [String(offender)]);
  assert.deepEqual(await statuses(poisoned.ticketIds), ["expired", "usable", "expired"]);
  assert.deepEqual(await statuses(other.ticketIds), ["expired", "expired", "expired"]);
  const { rows: orders } = await db.pool.query<{ id: number; status: string }>(
    "select id::int, status from ticketing.orders where id = any($1) order by id",
    [[poisoned.orderId, other.orderId]],
  );
  assert.deepEqual(orders, [
    { id: poisoned.orderId, status: "open" },
    { id: other.orderId, status: "completed" },
  ]);

  const [held] = await quarantine();
  assert.deepEqual(
    { ticket: held?.ticket_id, order: held?.order_id, attempts: held?.attempts, sqlstate: held?.sqlstate },
    { ticket: String(offender), order: String(poisoned.orderId), attempts: 1, sqlstate: "23505" },
  );
  assert.match(held?.error ?? "", new RegExp(`ticket:${offender}:1`));
  const [alert] = await alertsOf(offender);
  assert.equal(alert?.kind, "ticket_quarantined");
  assert.equal(alert?.cleared, false);
  assert.deepEqual([alert?.details.ticket_id, alert?.details.order_id], [offender, poisoned.orderId]);
  assert.match(alert?.message ?? "", new RegExp(`ticket ${offender} \\(order ${poisoned.orderId}\\)`));
  const raised = await db.pool.query("select payload from ticketing.outbox where type = 'alert.raised'");
  assert.equal(raised.rows.filter((r) => r.payload.details.ticket_id === offender).length, 1);
  assert.equal(await gauge(), 1);
  const reader = await db.pool.connect();
  try {
    await reader.query("set role ticketing_reader");
    const { rows: seen } = await reader.query("select ticket_id::int from ticketing.status_quarantine");
    assert.deepEqual(seen, [{ ticket_id: offender }]);
  } finally {
    await reader.query("reset role");
    reader.release();
  }
  const status = await readStatus(db.pool);
  assert.deepEqual(
    status.quarantined.map((q) => [q.ticket_id, q.order_id, q.attempts]),
    [[String(offender), String(poisoned.orderId), 1]],
  );

  // Still poisoned: tried again, set aside again, still one alert.
  const second = await sweep(0);
  assert.deepEqual([second.expired, second.quarantined], [0, [String(offender)]]);
  assert.equal((await quarantine())[0]?.attempts, 2);
  assert.equal((await alertsOf(offender)).length, 1);

  await unplant(offender);
  const third = await sweep(0);
  assert.deepEqual([third.expired, third.completedOrders, third.quarantined], [1, 1, []]);
  assert.deepEqual(await statuses(poisoned.ticketIds), ["expired", "expired", "expired"]);
  assert.deepEqual(await quarantine(), []);
  assert.deepEqual(
    (await alertsOf(offender)).map((a) => a.cleared),
    [true],
  );
  assert.equal(await gauge(), 0);
  const { rows: audit } = await db.pool.query(
    "select seq::int, new_status from ticketing.ticket_status_audit where ticket_id = $1",
    [offender],
  );
  assert.deepEqual(audit, [{ seq: 1, new_status: "expired" }]);
});

test("a quarantined ticket waits for its retry time; a batch in which no ticket goes through fails as a whole", async () => {
  const order = await createOrder(db.pool, 1, PAST);
  const offender = order.ticketIds[0] as number;
  await plant(offender);
  assert.deepEqual((await sweep(3600)).quarantined, [String(offender)]);
  // Not due for an hour: no batch takes it.
  const again = await sweep(3600);
  assert.deepEqual([again.expired, again.last], [0, undefined]);
  assert.equal((await quarantine()).find((q) => q.ticket_id === String(offender))?.attempts, 1);
  await unplant(offender);

  // Two tickets, both failing on their own: nothing singles one out, so the batch fails with the error.
  const both = await createOrder(db.pool, 2, PAST);
  for (const id of both.ticketIds) await plant(id);
  await assert.rejects(sweep(0), { code: "23505" });
  assert.deepEqual(await statuses(both.ticketIds), ["usable", "usable"]);
  for (const id of both.ticketIds) await unplant(id);
  assert.equal((await sweep(0)).expired, 2);
});

test("an order re-opened and finished again gets a completion event id of its own", async () => {
  const order = await createOrder(db.pool, 1, PAST);
  assert.equal((await sweep(60)).completedOrders, 1);
  // An operator re-opens the order and a ticket is added to it.
  await asEngine(db.pool, "update ticketing.orders set status = 'open', completed_at = null where id = $1", [
    order.orderId,
  ]);
  const added = freshId();
  await db.pool.query(`insert into ticketing.tickets (id, order_id, valid_end) values ($1, $2, ${PAST})`, [
    added,
    order.orderId,
  ]);
  const second = await sweep(60);
  assert.deepEqual([second.expired, second.completedOrders, second.quarantined], [1, 1, []]);
  const { rows } = await db.pool.query<{ id: string; event_id: string }>(
    "select id::text, event_id from ticketing.outbox where order_id = $1 and type = 'order.completed' order by id",
    [order.orderId],
  );
  assert.equal(rows.length, 2);
  assert.equal(rows[0]?.event_id, `order:${order.orderId}:completed`);
  assert.equal(rows[1]?.event_id, `order:${order.orderId}:completed:${rows[1]?.id}`);
});
