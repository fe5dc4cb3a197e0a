// Order locks and order status (sql/10-expiry-isolation.sql): the sweep never waits behind a client's open
// transaction on an order, and an order's status is right whatever isolation level its callers use.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type pg from "pg";
import { expireBatch, type SweepPosition } from "../src/sql/expireBatch.ts";
import { waitFor } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { createOrder } from "./support/fixtures.ts";

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

const PAST = "now() - interval '1 hour'";

/** A whole sweep as expire_tickets runs it (one lane): passes resuming after each batch, until one expires nothing. */
async function sweep(client: pg.PoolClient, batchSize: number) {
  let expired = 0;
  let skipped = 0;
  for (let progress = true; progress; ) {
    progress = false;
    let after: SweepPosition | undefined;
    for (;;) {
      const r = await expireBatch(client, { batchSize, graceSeconds: 0, retrySeconds: 60, after });
      if (!r.last) break;
      after = r.last;
      progress ||= r.expired > 0;
      expired += r.expired;
      skipped += r.skipped;
    }
  }
  return { expired, skipped };
}

const statusOf = async (ticketId: number) =>
  (await db.pool.query<{ status: string }>("select status from ticketing.tickets where id = $1", [ticketId])).rows[0]
    ?.status;

test("a client idle in a transaction on an order holds back that order's tickets only; nothing waits on it", async () => {
  const held = await createOrder(db.pool, 2, PAST);
  const others = await Promise.all([createOrder(db.pool, 3, PAST), createOrder(db.pool, 3, PAST)]);
  const client = await db.pool.connect();
  const sweeper = await db.pool.connect();
  const refunder = await db.pool.connect();
  try {
    // The client redeems one ticket and keeps its transaction open: it holds the order's row lock.
    await client.query("begin");
    await client.query("select ticketing.redeem_ticket($1, 'gate-1')", [held.ticketIds[0]]);

    // Were the sweep to wait, it would hit this bound (and fail) instead of hanging the test.
    await sweeper.query("set lock_timeout = '5s'");
    const sweeping = sweep(sweeper, 2);
    // While the sweep runs, a refund of a ticket of another order never waits for it. Should the sweep
    // wait on the held order, it would do so holding its batch's ticket locks, this ticket among them.
    await refunder.query("set lock_timeout = '2s'");
    const waiting = await waitFor("the sweep to finish or to wait on a lock", async () => {
      const { rows } = await db.pool.query<{ waiting: boolean }>(
        "select wait_event_type = 'Lock' as waiting from pg_stat_activity where pid = $1",
        [(sweeper as unknown as { processID: number }).processID],
      );
      return rows[0]?.waiting ? "waiting" : (await statusOf(others[1].ticketIds[2] as number)) === "expired" && "done";
    });
    const refund = await refunder
      .query("select ticketing.transition_ticket($1, 'refunded', 'refund-1')", [others[0].ticketIds[0]])
      .then(
        () => "applied",
        (error: { code?: string }) => error.code,
      );
    assert.notEqual(refund, "55P03", `the refund waited for the sweep (sweep ${waiting})`);

    const result = await sweeping;
    assert.equal(result.expired, 6 - (refund === "applied" ? 1 : 0));
    assert.ok(result.skipped >= 1);
    assert.equal(await statusOf(held.ticketIds[1] as number), "usable");

    await client.query("commit");
    const next = await sweep(sweeper, 2);
    assert.deepEqual(next, { expired: 1, skipped: 0 });
    const { rows } = await db.pool.query("select status from ticketing.orders where id = $1", [held.orderId]);
    assert.equal(rows[0]?.status, "completed");
  } finally {
    await client.query("rollback").catch(() => {});
    client.release();
    sweeper.release();
    refunder.release();
  }
});

const SERIALIZATION = new Set(["40001", "40P01"]);

/** Runs `work` in a transaction at `level`, again from the start after a serialization failure, as a client must. */
async function withRetry(client: pg.PoolClient, level: string, work: () => Promise<void>, onConflict: () => void) {
  for (;;) {
    await client.query(`begin isolation level ${level}`);
    try {
      await work();
      await client.query("commit");
      return;
    } catch (error) {
      await client.query("rollback");
      if (!SERIALIZATION.has((error as { code?: string }).code ?? "")) throw error;
      onConflict();
    }
  }
}

describe("order status under every isolation level", () => {
  for (const level of ["repeatable read", "serializable"]) {
    test(`${level}: two sessions finishing the last two tickets of an order at once complete it`, async () => {
      const order = await createOrder(db.pool, 2);
      const [a, b] = [await db.pool.connect(), await db.pool.connect()];
      let conflicts = 0;
      try {
        // Both transactions take their snapshot before either redeems: each sees the other's ticket usable.
        let aRedeemed!: () => void;
        const aHasRedeemed = new Promise<void>((resolve) => {
          aRedeemed = resolve;
        });
        let bHasSnapshot!: () => void;
        const bSnapshot = new Promise<void>((resolve) => {
          bHasSnapshot = resolve;
        });
        let first = true;
        const sessionA = withRetry(
          a,
          level,
          async () => {
            await a.query("select count(*) from ticketing.tickets where order_id = $1", [order.orderId]);
            if (first) await bSnapshot;
            await a.query("select ticketing.redeem_ticket($1, 'scan-a')", [order.ticketIds[0]]);
            if (first) aRedeemed();
            first = false;
          },
          () => conflicts++,
        );
        let firstB = true;
        const sessionB = withRetry(
          b,
          level,
          async () => {
            await b.query("select count(*) from ticketing.tickets where order_id = $1", [order.orderId]);
            if (firstB) {
              bHasSnapshot();
              await aHasRedeemed;
            }
            firstB = false;
            // Waits for the order's lock, which A holds until it commits. (transition_ticket rather than
            // redeem_ticket: redeem_ticket's order-check job would conflict on its job key first.)
            await b.query("select ticketing.transition_ticket($1, 'used', 'scan-b')", [order.ticketIds[1]]);
          },
          () => conflicts++,
        );
        await Promise.all([sessionA, sessionB]);
      } finally {
        a.release();
        b.release();
      }
      const { rows } = await db.pool.query<{ status: string; events: number }>(
        `select o.status, (select count(*)::int from ticketing.outbox e where e.order_id = o.id and e.type = 'order.completed') as events
           from ticketing.orders o where o.id = $1`,
        [order.orderId],
      );
      assert.deepEqual(rows[0], { status: "completed", events: 1 });
      assert.ok(conflicts >= 1, "one of the two sessions had to retry");
    });
  }
});
