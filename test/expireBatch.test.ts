// ticketing.expire_batch (sql/3-expire-batch.sql): (valid_end, id) order, resuming after a position,
// and the second pass from the front that picks up a ticket the first pass had to skip.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { expireBatch, type SweepPosition } from "../src/sql/expireBatch.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { freshId } from "./support/fixtures.ts";

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

const batch = (batchSize: number, after?: SweepPosition) => ({ batchSize, graceSeconds: 0, retrySeconds: 60, after });

const statusOf = async (ids: number[]) =>
  (
    await db.pool.query<{ status: string }>("select status from ticketing.tickets where id = any($1) order by id", [
      ids,
    ])
  ).rows.map((r) => r.status);

test("batches resume after the last ticket taken; a ticket held elsewhere is left for the pass from the front", async () => {
  const orderId = freshId();
  await db.pool.query("insert into ticketing.orders (id) values ($1)", [orderId]);
  // Six tickets, the last five sharing one valid_end: batches end inside that tie, and the position
  // (valid_end, id) resumes there without losing or repeating a ticket.
  const ids = Array.from({ length: 6 }, freshId);
  await db.pool.query(
    `insert into ticketing.tickets (id, order_id, valid_end)
     select id, $1, now() - interval '1 hour' + least(n, 2) * interval '1 minute' from unnest($2::bigint[]) with ordinality as u(id, n)`,
    [orderId, ids],
  );
  const holder = await db.pool.connect();
  try {
    await holder.query("begin");
    await holder.query("select 1 from ticketing.tickets where id = $1 for update", [ids[1]]);

    const first = await expireBatch(db.pool, batch(2));
    assert.equal(first.expired, 2);
    assert.deepEqual(await statusOf(ids), ["expired", "usable", "expired", "usable", "usable", "usable"]);
    let after = first.last as SweepPosition;
    assert.equal(after.id, String(ids[2]));

    const second = await expireBatch(db.pool, batch(2, after));
    assert.equal(second.expired, 2);
    after = second.last as SweepPosition;
    const third = await expireBatch(db.pool, batch(2, after));
    assert.deepEqual([third.expired, third.completedOrders, third.last?.id], [1, 0, String(ids[5])]);
    assert.equal((await expireBatch(db.pool, batch(2, third.last))).last, undefined);

    await holder.query("commit");
    const again = await expireBatch(db.pool, batch(2));
    assert.deepEqual([again.expired, again.completedOrders, again.last?.id], [1, 1, String(ids[1])]);
    assert.deepEqual(await statusOf(ids), Array(6).fill("expired"));
    const { rows } = await db.pool.query(
      "select count(*)::int as n from ticketing.ticket_status_audit where ticket_id = any($1)",
      [ids],
    );
    assert.equal(rows[0].n, 6);
  } finally {
    holder.release();
  }
});

test("a position needs both its valid_end and its id", async () => {
  await assert.rejects(db.pool.query("select * from ticketing.expire_batch(10, '0 seconds', now(), null)"), {
    code: "TL422",
  });
});
