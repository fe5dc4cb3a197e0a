// The SQL state machine (sql/2-state-machine.sql): every (from, to) pair, idempotency, audit order,
// order status, the guard trigger and bad input. Real PostgreSQL, this file's own database.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { waitFor } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { counts, createOrder, driveTo, JOBS_SQL } from "./support/fixtures.ts";

const STATUSES = ["usable", "used", "refunded", "changing", "changed", "expired"] as const;
const ALLOWED = new Set([
  "usable>used",
  "usable>refunded",
  "usable>changing",
  "usable>expired",
  "changing>changed",
  "changed>usable",
]);

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

async function sqlState(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe("transitions", () => {
  for (const from of STATUSES) {
    for (const to of STATUSES) {
      const allowed = ALLOWED.has(`${from}>${to}`);
      test(`${from} -> ${to} is ${allowed ? "applied" : "refused with TL409"}`, async () => {
        const { ticketIds } = await createOrder(db.pool, 2);
        const ticketId = ticketIds[0] as number;
        await driveTo(db.pool, ticketId, from);
        const before = await counts(db.pool, ticketId);
        const call = db.pool.query("select ticketing.transition_ticket($1, $2, 'evt-1') as r", [ticketId, to]);
        if (allowed) {
          const { rows } = await call;
          assert.equal(rows[0].r, "applied");
          const now = await counts(db.pool, ticketId);
          assert.equal(now.status, to);
          assert.equal(now.audit, before.audit + 1);
          assert.equal(now.outbox, before.outbox + 1);
          assert.equal(now.seq, before.seq + 1);
          const { rows: audit } = await db.pool.query(
            "select prev_status, new_status, event_id, seq from ticketing.ticket_status_audit where ticket_id = $1 order by seq desc limit 1",
            [ticketId],
          );
          assert.deepEqual(audit[0], { prev_status: from, new_status: to, event_id: "evt-1", seq: String(now.seq) });
          const { rows: events } = await db.pool.query(
            "select type from ticketing.outbox where ticket_id = $1 order by id desc limit 1",
            [ticketId],
          );
          assert.equal(events[0].type, from === "changed" && to === "usable" ? "ticket.reissued" : `ticket.${to}`);
        } else {
          assert.equal(await sqlState(call), "TL409");
          assert.deepEqual(await counts(db.pool, ticketId), before);
        }
      });
    }
  }

  test("a repeated (ticket_id, new_status, event_id) is a duplicate and writes nothing", async () => {
    const { ticketIds } = await createOrder(db.pool, 2);
    const ticketId = ticketIds[0] as number;
    const first = await db.pool.query("select ticketing.transition_ticket($1, 'changing', 'chg-1') as r", [ticketId]);
    assert.equal(first.rows[0].r, "applied");
    const before = await counts(db.pool, ticketId);
    for (let i = 0; i < 3; i++) {
      const again = await db.pool.query("select ticketing.transition_ticket($1, 'changing', 'chg-1') as r", [ticketId]);
      assert.equal(again.rows[0].r, "duplicate");
    }
    assert.deepEqual(await counts(db.pool, ticketId), before);
  });

  test("a terminal ticket never changes again, whatever the event", async () => {
    const { ticketIds } = await createOrder(db.pool, 1);
    const ticketId = ticketIds[0] as number;
    await driveTo(db.pool, ticketId, "used");
    for (const to of STATUSES) {
      assert.equal(
        await sqlState(db.pool.query("select ticketing.transition_ticket($1, $2, 'later')", [ticketId, to])),
        "TL409",
      );
    }
    assert.equal((await counts(db.pool, ticketId)).status, "used");
  });

  test("a re-issue carries the new valid_end from meta", async () => {
    const { ticketIds } = await createOrder(db.pool, 1);
    const ticketId = ticketIds[0] as number;
    await driveTo(db.pool, ticketId, "changed");
    await db.pool.query("select ticketing.transition_ticket($1, 'usable', 'reissue', 'test', $2)", [
      ticketId,
      { valid_end: "2031-01-02T03:04:05Z" },
    ]);
    const { rows } = await db.pool.query("select status, valid_end from ticketing.tickets where id = $1", [ticketId]);
    assert.equal(rows[0].status, "usable");
    assert.equal(rows[0].valid_end.toISOString(), "2031-01-02T03:04:05.000Z");
  });
});

describe("audit order", () => {
  test("audit order is transition order even when the later transition's transaction started first", async () => {
    const { ticketIds } = await createOrder(db.pool, 1);
    const ticketId = ticketIds[0] as number;
    const early = await db.pool.connect();
    try {
      await early.query("begin");
      await early.query("select now()"); // fixes this transaction's now() before the other one runs
      await new Promise((resolve) => setTimeout(resolve, 20));
      await db.pool.query("select ticketing.transition_ticket($1, 'changing', 'first')", [ticketId]);
      await early.query("select ticketing.transition_ticket($1, 'changed', 'second')", [ticketId]);
      await early.query("commit");
    } finally {
      early.release();
    }
    const { rows } = await db.pool.query(
      "select event_id from ticketing.ticket_status_audit where ticket_id = $1 order by created_at, id",
      [ticketId],
    );
    assert.deepEqual(
      rows.map((r) => r.event_id),
      ["first", "second"],
    );
    const bySeq = await db.pool.query(
      "select event_id from ticketing.ticket_status_audit where ticket_id = $1 order by seq",
      [ticketId],
    );
    assert.deepEqual(
      bySeq.rows.map((r) => r.event_id),
      ["first", "second"],
    );
  });
});

describe("order status", () => {
  async function order(orderId: number) {
    const { rows } = await db.pool.query(
      "select status, completed_at, cancelled_at from ticketing.orders where id = $1",
      [orderId],
    );
    const { rows: events } = await db.pool.query(
      "select type from ticketing.outbox where order_id = $1 and ticket_id is null",
      [orderId],
    );
    return { ...rows[0], events: events.map((e) => e.type) };
  }

  test("all refunded -> cancelled, cancelled_at, one order.cancelled", async () => {
    const { orderId, ticketIds } = await createOrder(db.pool, 3);
    for (const id of ticketIds) await driveTo(db.pool, id, "refunded");
    const o = await order(orderId);
    assert.equal(o.status, "cancelled");
    assert.ok(o.cancelled_at instanceof Date);
    assert.equal(o.completed_at, null);
    assert.deepEqual(o.events, ["order.cancelled"]);
  });

  test("a mix of terminal statuses -> completed, completed_at, one order.completed", async () => {
    const { orderId, ticketIds } = await createOrder(db.pool, 3);
    await driveTo(db.pool, ticketIds[0] as number, "used");
    await driveTo(db.pool, ticketIds[1] as number, "refunded");
    assert.equal((await order(orderId)).status, "open");
    await driveTo(db.pool, ticketIds[2] as number, "expired");
    const o = await order(orderId);
    assert.equal(o.status, "completed");
    assert.ok(o.completed_at instanceof Date);
    assert.deepEqual(o.events, ["order.completed"]);
  });

  test("a changing or usable ticket keeps the order open", async () => {
    const { orderId, ticketIds } = await createOrder(db.pool, 2);
    await driveTo(db.pool, ticketIds[0] as number, "used");
    await driveTo(db.pool, ticketIds[1] as number, "changing");
    assert.equal((await order(orderId)).status, "open");
    const other = await createOrder(db.pool, 2);
    await driveTo(db.pool, other.ticketIds[0] as number, "used");
    assert.equal((await order(other.orderId)).status, "open");
    assert.deepEqual((await order(other.orderId)).events, []);
  });

  /** Two transactions each finish one ticket of a two-ticket order; the second starts before the first commits. */
  async function raceTwoTickets(): Promise<string> {
    const { orderId, ticketIds } = await createOrder(db.pool, 2);
    const a = await db.pool.connect();
    const b = await db.pool.connect();
    try {
      await a.query("begin");
      await b.query("begin");
      await a.query("select ticketing.transition_ticket($1, 'used', 'race-a')", [ticketIds[0]]);
      const bPid: number = (await b.query("select pg_backend_pid() as pid")).rows[0].pid;
      let bSettled = false;
      const bDone = b.query("select ticketing.transition_ticket($1, 'used', 'race-b')", [ticketIds[1]]).finally(() => {
        bSettled = true;
      });
      // b either waits for the order lock a holds, or (without the lock) finishes before a commits.
      await waitFor(
        "b at the order lock or done",
        async () =>
          bSettled ||
          (await db.pool.query("select 1 from pg_stat_activity where pid = $1 and wait_event_type = 'Lock'", [bPid]))
            .rowCount === 1,
      );
      await a.query("commit");
      await bDone;
      await b.query("commit");
    } finally {
      a.release();
      b.release();
    }
    return (await order(orderId)).status;
  }

  test("tickets of one order finished concurrently: the order still completes, with one event", async () => {
    assert.equal(await raceTwoTickets(), "completed");
    const { orderId, ticketIds } = await createOrder(db.pool, 8);
    await Promise.all(
      ticketIds.map((id, i) =>
        db.pool.query("select ticketing.transition_ticket($1, $2, 'par')", [id, i % 2 ? "used" : "expired"]),
      ),
    );
    const o = await order(orderId);
    assert.equal(o.status, "completed");
    assert.deepEqual(o.events, ["order.completed"]);
  });

  test("without the order-row lock the same race leaves the order open (why the lock exists)", async () => {
    const { rows } = await db.pool.query(
      "select pg_get_functiondef('ticketing.recompute_orders(bigint[])'::regprocedure) as def",
    );
    const original: string = rows[0].def;
    const unlocked = original.replace(/(order by o\.id)\s+for update\) l;/, "$1) l;");
    assert.notEqual(unlocked, original);
    await db.pool.query(unlocked);
    try {
      assert.equal(await raceTwoTickets(), "open");
    } finally {
      await db.pool.query(original);
    }
  });
});

describe("guard and privileges", () => {
  test("a direct UPDATE of tickets.status is rejected, also for a superuser", async () => {
    const { ticketIds } = await createOrder(db.pool, 2);
    const ticketId = ticketIds[0] as number;
    await driveTo(db.pool, ticketId, "used");
    assert.equal(
      await sqlState(db.pool.query("update ticketing.tickets set status = 'usable' where id = $1", [ticketId])),
      "TL403",
    );
    assert.equal(
      await sqlState(db.pool.query("update ticketing.tickets set seq = 0 where id = $1", [ticketId])),
      "TL403",
    );
    assert.equal(
      await sqlState(
        db.pool.query(
          "insert into ticketing.tickets (id, order_id, status, valid_end) values (999999, 1, 'used', now())",
        ),
      ),
      "TL403",
    );
    assert.equal((await counts(db.pool, ticketId)).status, "used");
    // a terminal ticket's validity is history; a live one's stays writable for the services that own it
    assert.equal(
      await sqlState(
        db.pool.query("update ticketing.tickets set valid_end = valid_end + interval '1 day' where id = $1", [
          ticketId,
        ]),
      ),
      "TL403",
    );
    await db.pool.query("update ticketing.tickets set valid_end = valid_end + interval '1 day' where id = $1", [
      ticketIds[1],
    ]);
  });

  test("ticketing_client calls the client functions and writes no table", async () => {
    const { ticketIds } = await createOrder(db.pool, 3);
    const client = await db.pool.connect();
    try {
      await client.query("set role ticketing_client");
      assert.equal(
        (await client.query("select ticketing.redeem_ticket($1, 'gate-1') as r", [ticketIds[0]])).rows[0].r,
        "applied",
      );
      assert.equal(
        (await client.query("select ticketing.request_refund($1, 'refund-1') as r", [ticketIds[1]])).rows[0].r,
        "queued",
      );
      assert.equal(
        (
          await client.query(
            "select ticketing.request_change($1, 'change-1', jsonb_build_object('valid_end', now() + interval '30 days')) as r",
            [ticketIds[2]],
          )
        ).rows[0].r,
        "queued",
      );
      assert.equal((await client.query("select count(*)::int as n from ticketing.tickets")).rows[0].n > 0, true);
      assert.equal(
        await sqlState(client.query("select ticketing.transition_ticket($1, 'used', 'x')", [ticketIds[1]])),
        "42501",
      );
      const { rows: tables } = await client.query(
        `select table_name, (array_agg(column_name::text order by ordinal_position))[1] as col
           from information_schema.columns where table_schema = 'ticketing' and is_identity = 'NO' and table_name in
                (select tablename from pg_tables where schemaname = 'ticketing') group by table_name`,
      );
      assert.ok(tables.length >= 8);
      for (const { table_name, col } of tables) {
        assert.equal(
          await sqlState(client.query(`delete from ticketing.${table_name}`)),
          "42501",
          `delete from ${table_name}`,
        );
        assert.equal(
          await sqlState(client.query(`update ticketing.${table_name} set ${col} = ${col}`)),
          "42501",
          `update ${table_name}`,
        );
      }
      assert.equal(await sqlState(client.query("insert into ticketing.orders (id) values (424242)")), "42501");
    } finally {
      await client.query("reset role");
      client.release();
    }
    const { rows: jobs } = await db.pool.query(
      `select task_identifier, payload->>'event_id' as event_id, run_at > now() + interval '50 minutes' as later
         from (${JOBS_SQL}) j where task_identifier in ('check_order','ticket_refund_requested','ticket_change_requested') order by task_identifier`,
    );
    assert.deepEqual(
      jobs.map((j) => [j.task_identifier, j.event_id, j.later]),
      [
        ["check_order", null, true],
        ["ticket_change_requested", "change-1", false],
        ["ticket_refund_requested", "refund-1", false],
      ],
    );
  });

  test("every function but the triggers and harden is the engine's, SECURITY DEFINER, with a pinned search_path", async () => {
    const { rows } = await db.pool.query(
      `select p.proname, p.proconfig, p.prosecdef, pg_get_userbyid(p.proowner) as owner,
              p.prorettype = 'trigger'::regtype as trigger
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'ticketing'`,
    );
    assert.ok(rows.some((r) => r.proname === "redeem_ticket"));
    // The one trigger that writes rather than guards: it touches the order of a new ticket, as the engine.
    const writingTriggers = ["touch_orders_of_new_tickets"];
    for (const row of rows) {
      if ((row.trigger && !writingTriggers.includes(row.proname)) || row.proname === "harden") {
        assert.equal(row.prosecdef, false, `${row.proname} must run as whoever writes`);
        continue;
      }
      assert.deepEqual([row.prosecdef, row.owner], [true, "ticketing_engine"], row.proname);
      assert.ok(row.proconfig.includes("search_path=ticketing, pg_temp"), row.proname);
    }
  });
});

describe("bad input", () => {
  const cases: Array<[string, string, unknown[], string]> = [
    ["unknown ticket", "select ticketing.transition_ticket(987654321, 'used', 'e')", [], "TL404"],
    ["unknown status", "select ticketing.transition_ticket($1, 'lost', 'e')", ["T"], "TL422"],
    ["null status", "select ticketing.transition_ticket($1, null, 'e')", ["T"], "TL422"],
    ["null event_id", "select ticketing.transition_ticket($1, 'used', null)", ["T"], "TL422"],
    ["empty event_id", "select ticketing.transition_ticket($1, 'used', '')", ["T"], "TL422"],
    ["oversized event_id", "select ticketing.transition_ticket($1, 'used', repeat('x', 201))", ["T"], "TL422"],
    ["meta is an array", "select ticketing.transition_ticket($1, 'used', 'e', null, '[1]')", ["T"], "TL422"],
    ["meta is null", "select ticketing.transition_ticket($1, 'used', 'e', null, null)", ["T"], "TL422"],
    [
      "oversized meta",
      "select ticketing.transition_ticket($1, 'used', 'e', null, jsonb_build_object('x', repeat('y', 20000)))",
      ["T"],
      "TL422",
    ],
    ["malformed meta text", "select ticketing.transition_ticket($1, 'used', 'e', null, '{oops')", ["T"], "22P02"],
    [
      "bad re-issue valid_end",
      "select ticketing.transition_ticket($1, 'usable', 'e', null, '{\"valid_end\": \"soon\"}')",
      ["T"],
      "TL422",
    ],
    ["refund of an unknown ticket", "select ticketing.request_refund(987654321, 'e')", [], "TL404"],
    ["refund with null event_id", "select ticketing.request_refund($1, null)", ["T"], "TL422"],
    ["redeem with oversized event_id", "select ticketing.redeem_ticket($1, repeat('x', 500))", ["T"], "TL422"],
  ];
  for (const [name, sql, params, code] of cases) {
    test(`${name} -> ${code}, nothing written`, async () => {
      const { ticketIds } = await createOrder(db.pool, 1);
      const ticketId = ticketIds[0] as number;
      const before = await counts(db.pool, ticketId);
      const { rows: requestsBefore } = await db.pool.query("select count(*)::int as n from ticketing.ticket_requests");
      assert.equal(
        await sqlState(
          db.pool.query(
            sql,
            params.map((p) => (p === "T" ? ticketId : p)),
          ),
        ),
        code,
      );
      assert.deepEqual(await counts(db.pool, ticketId), before);
      const { rows: requestsAfter } = await db.pool.query("select count(*)::int as n from ticketing.ticket_requests");
      assert.equal(requestsAfter[0].n, requestsBefore[0].n);
    });
  }

  test("an event_id reused for another ticket's request is refused", async () => {
    const { ticketIds } = await createOrder(db.pool, 2);
    assert.equal(
      (await db.pool.query("select ticketing.request_refund($1, 'shared-evt') as r", [ticketIds[0]])).rows[0].r,
      "queued",
    );
    assert.equal(
      (await db.pool.query("select ticketing.request_refund($1, 'shared-evt') as r", [ticketIds[0]])).rows[0].r,
      "duplicate",
    );
    assert.equal(
      await sqlState(db.pool.query("select ticketing.request_refund($1, 'shared-evt')", [ticketIds[1]])),
      "TL422",
    );
  });
});
