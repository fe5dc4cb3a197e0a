// The lifecycle jobs end to end: a ticket past valid_end expires, an order whose tickets are all redeemed
// completes, an approved refund is applied and audited, a change goes through, the same event twice writes
// nothing twice, failures are retried. The real runner and tasks on this file's database, real HTTP stand-ins
// for refund-processing and the change service.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startTestDaemon, type TestDaemon, waitFor } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { asEngine } from "./support/engine.ts";
import { createOrder, JOBS_SQL } from "./support/fixtures.ts";
import { startHttpStub } from "./support/httpStub.ts";

let db: TestDatabase;
let daemon: TestDaemon;
/** The refund-processing stand-in: each test sets how it answers. */
let refundAnswer: (body: Record<string, unknown>, index: number) => { status: number; body?: unknown } = () => ({
  status: 200,
  body: { target_status: "refunded" },
});
let refundStub: Awaited<ReturnType<typeof startHttpStub>>;

before(async () => {
  db = await createTestDatabase();
  refundStub = await startHttpStub((req, i) => refundAnswer(req.json as Record<string, unknown>, i));
  daemon = await startTestDaemon(db, { REFUND_SERVICE_URL: refundStub.url });
});
after(async () => {
  await daemon.stop();
  await refundStub.close();
  await db.drop();
});

const addJob = (task: string, payload: unknown) =>
  db.pool.query("select graphile_worker.add_job($1, $2::json)", [task, JSON.stringify(payload)]);
const ticket = async (id: number) =>
  (await db.pool.query("select status, valid_end, seq::int from ticketing.tickets where id = $1", [id])).rows[0];
const request = async (eventId: string) =>
  (await db.pool.query("select * from ticketing.ticket_requests where event_id = $1", [eventId])).rows[0];
const auditOf = async (id: number) =>
  (
    await db.pool.query(
      "select prev_status, new_status, event_id from ticketing.ticket_status_audit where ticket_id = $1 order by seq",
      [id],
    )
  ).rows;
const jobsFor = async (eventId: string) =>
  (await db.pool.query(`select * from (${JOBS_SQL}) j where payload->>'event_id' = $1`, [eventId])).rows;
const finished = (eventId: string) =>
  waitFor(`request ${eventId} finished`, async () => {
    const r = await request(eventId);
    return r && r.status !== "pending" && (await jobsFor(eventId)).length === 0 ? r : undefined;
  });

describe("expire_tickets", () => {
  test("a sweep expires every ticket past valid_end, with audit, notification-ready events and order status", async () => {
    const past = await createOrder(db.pool, 3, "now() - interval '1 minute'");
    const mixed = await createOrder(db.pool, 2, "now() - interval '1 hour'");
    await db.pool.query("select ticketing.redeem_ticket($1, 'gate-mixed')", [mixed.ticketIds[0]]);
    const future = await createOrder(db.pool, 2);
    const before =
      (await daemon.metrics.registry.getSingleMetric("tickets_expired_total")?.get())?.values[0]?.value ?? 0;

    await addJob("expire_tickets", { batch_size: 2 });
    await waitFor(
      "past tickets expired",
      async () =>
        (
          await db.pool.query(
            "select count(*)::int as n from ticketing.tickets where status = 'usable' and valid_end < now()",
          )
        ).rows[0].n === 0,
    );

    for (const id of [...past.ticketIds, mixed.ticketIds[1] as number]) {
      assert.equal((await ticket(id)).status, "expired");
      assert.deepEqual(await auditOf(id), [{ prev_status: "usable", new_status: "expired", event_id: "expire" }]);
      const { rows: events } = await db.pool.query("select type, payload from ticketing.outbox where ticket_id = $1", [
        id,
      ]);
      assert.equal(events.length, 1);
      assert.equal(events[0].type, "ticket.expired");
      assert.equal(events[0].payload.ticket_id, id);
      assert.equal(events[0].payload.status, "expired");
      assert.equal(events[0].payload.prev_status, "usable");
    }
    for (const id of future.ticketIds) assert.equal((await ticket(id)).status, "usable");
    const orders = await db.pool.query("select id, status from ticketing.orders where id = any($1) order by id", [
      [past.orderId, mixed.orderId, future.orderId],
    ]);
    assert.deepEqual(
      orders.rows.map((o) => o.status),
      ["completed", "completed", "open"],
    );
    const after =
      (await daemon.metrics.registry.getSingleMetric("tickets_expired_total")?.get())?.values[0]?.value ?? 0;
    assert.ok(after - before >= 4, `tickets_expired_total grew by ${after - before}`);
    const progress = daemon.logs.find((l) => l.msg === "expiry sweep finished");
    assert.ok(progress && typeof progress.expired === "number" && typeof progress.jobId === "string");
  });

  test("the grace period keeps tickets usable until valid_end + grace", async () => {
    const recent = await createOrder(db.pool, 1, "now() - interval '30 seconds'");
    await addJob("expire_tickets", { batch_size: 200, grace_seconds: 3600 });
    await waitFor(
      "sweep job done",
      async () =>
        (await db.pool.query(`select count(*)::int as n from (${JOBS_SQL}) j where task_identifier = 'expire_tickets'`))
          .rows[0].n === 0,
    );
    assert.equal((await ticket(recent.ticketIds[0] as number)).status, "usable");
  });
});

describe("redemption and order completion", () => {
  test("all tickets redeemed -> order completed; one check job an hour later per order", async () => {
    const { orderId, ticketIds } = await createOrder(db.pool, 3);
    for (const [i, id] of ticketIds.entries()) {
      assert.equal(
        (await db.pool.query("select ticketing.redeem_ticket($1, $2) as r", [id, `gate-${i}`])).rows[0].r,
        "applied",
      );
    }
    assert.equal(
      (await db.pool.query("select ticketing.redeem_ticket($1, 'gate-0') as r", [ticketIds[0]])).rows[0].r,
      "duplicate",
    );
    const { rows } = await db.pool.query("select status, completed_at from ticketing.orders where id = $1", [orderId]);
    assert.equal(rows[0].status, "completed");
    const checks = await db.pool.query(
      `select run_at from (${JOBS_SQL}) j where task_identifier = 'check_order' and (payload->>'order_id')::bigint = $1`,
      [orderId],
    );
    assert.equal(checks.rows.length, 1);
    assert.ok(checks.rows[0].run_at.getTime() > Date.now() + 50 * 60_000);
  });

  test("the order check recomputes the order and logs its state", async () => {
    const { orderId } = await createOrder(db.pool, 1);
    await addJob("check_order", { order_id: orderId });
    const line = await waitFor("order check log", async () =>
      daemon.logs.find((l) => l.task === "check_order" && l.orderId === String(orderId)),
    );
    assert.equal(line.status, "open");
    assert.equal(line.openTickets, 1);
  });
});

describe("refunds", () => {
  test("an approved refund: refund-processing called with the contract body, ticket refunded, audit recorded", async () => {
    refundAnswer = () => ({ status: 200, body: { target_status: "refunded", meta: { refund_id: "rf-1" } } });
    const { orderId, ticketIds } = await createOrder(db.pool, 1);
    const id = ticketIds[0] as number;
    assert.equal(
      (await db.pool.query("select ticketing.request_refund($1, 'refund-ok', '{\"reason\":\"ill\"}') as r", [id]))
        .rows[0].r,
      "queued",
    );
    const r = await finished("refund-ok");
    assert.equal(r.status, "succeeded");
    assert.equal((await ticket(id)).status, "refunded");
    const audit = (
      await db.pool.query(
        "select prev_status, new_status, event_id, meta from ticketing.ticket_status_audit where ticket_id = $1",
        [id],
      )
    ).rows;
    assert.deepEqual(audit, [
      {
        prev_status: "usable",
        new_status: "refunded",
        event_id: "refund-ok",
        meta: { reason: "ill", refund_id: "rf-1" },
      },
    ]);
    const call = refundStub.requests.find((q) => (q.json as { event_id?: string }).event_id === "refund-ok");
    assert.deepEqual(call?.json, {
      event_id: "refund-ok",
      kind: "refund",
      ticket_id: id,
      order_id: orderId,
      meta: { reason: "ill" },
    });
    assert.equal(call?.headers["idempotency-key"], "refund-ok");
    assert.equal(
      (await db.pool.query("select status from ticketing.orders where id = $1", [orderId])).rows[0].status,
      "cancelled",
    );
  });

  test("the same refund event consumed repeatedly (raw jobs and API calls mixed) -> one transition, one event", async () => {
    refundAnswer = () => ({ status: 200, body: { target_status: "refunded" } });
    const { ticketIds } = await createOrder(db.pool, 2);
    const id = ticketIds[0] as number;
    await Promise.all([
      addJob("ticket_refund_requested", { ticket_id: id, event_id: "dup-1" }),
      db.pool.query("select ticketing.request_refund($1, 'dup-1')", [id]),
      addJob("ticket_refund_requested", { ticket_id: id, event_id: "dup-1" }),
      db.pool.query("select ticketing.request_refund($1, 'dup-1')", [id]),
      addJob("ticket_refund_requested", { ticket_id: id, event_id: "dup-1", meta: {} }),
    ]);
    await finished("dup-1");
    await waitFor("all dup-1 jobs gone", async () => (await jobsFor("dup-1")).length === 0);
    assert.equal((await ticket(id)).status, "refunded");
    assert.equal((await auditOf(id)).length, 1);
    assert.equal(
      (await db.pool.query("select count(*)::int as n from ticketing.outbox where ticket_id = $1", [id])).rows[0].n,
      1,
    );
    assert.equal(
      (await db.pool.query("select count(*)::int as n from ticketing.ticket_requests where event_id = 'dup-1'")).rows[0]
        .n,
      1,
    );
  });

  test("refund-processing answering 503 then 200 -> retried with backoff, then succeeds", async () => {
    let calls = 0;
    refundAnswer = (body) =>
      body.event_id === "flaky-1" && calls++ === 0
        ? { status: 503, body: "busy" }
        : { status: 200, body: { target_status: "refunded" } };
    const { ticketIds } = await createOrder(db.pool, 1);
    const id = ticketIds[0] as number;
    await db.pool.query("select ticketing.request_refund($1, 'flaky-1')", [id]);
    await waitFor("first attempt failed", async () => (await request("flaky-1"))?.error?.includes("503"));
    assert.equal((await request("flaky-1")).status, "pending");
    assert.equal((await ticket(id)).status, "usable");
    const r = await finished("flaky-1");
    assert.equal(r.status, "succeeded");
    assert.equal(r.attempts, 2);
    assert.equal((await ticket(id)).status, "refunded");
    assert.ok(daemon.logs.some((l) => l.msg === "request attempt failed; will retry" && l.eventId === "flaky-1"));
  });

  test("a 4xx answer marks the request failed, ticket untouched", async () => {
    refundAnswer = () => ({ status: 422, body: { error: "refund window closed" } });
    const { ticketIds } = await createOrder(db.pool, 1);
    const id = ticketIds[0] as number;
    await db.pool.query("select ticketing.request_refund($1, 'deny-1')", [id]);
    const r = await finished("deny-1");
    assert.equal(r.status, "failed");
    assert.match(r.error, /422.*refund window closed/);
    assert.equal((await ticket(id)).status, "usable");
  });

  for (const [name, answer, reason] of [
    ["a target status other than refunded", { target_status: "used" }, /target_status 'used' is not 'refunded'/],
    [
      "a target the state machine refuses from the ticket's status",
      { target_status: "refunded" },
      /refuses expired -> refunded/,
    ],
  ] as const) {
    test(`${name} -> request failed, alert raised, ticket untouched`, async () => {
      refundAnswer = () => ({ status: 200, body: answer });
      const { ticketIds } = await createOrder(db.pool, 1);
      const id = ticketIds[0] as number;
      const refusedByMachine = reason.source.includes("expired");
      if (refusedByMachine) await db.pool.query("select ticketing.transition_ticket($1, 'expired', 'expire')", [id]);
      const eventId = `bad-target-${id}`;
      await db.pool.query("select ticketing.request_refund($1, $2)", [id, eventId]);
      const r = await finished(eventId);
      assert.equal(r.status, "failed");
      assert.match(r.error, reason);
      assert.equal((await ticket(id)).status, refusedByMachine ? "expired" : "usable");
      const alert = (
        await db.pool.query("select kind, details from ticketing.alerts where key = $1 and cleared_at is null", [
          `request_rejected:${eventId}`,
        ])
      ).rows;
      assert.equal(alert.length, 1);
      assert.equal(alert[0].details.ticket_id, id);
      const raised = await db.pool.query(
        "select count(*)::int as n from ticketing.outbox where type = 'alert.raised' and payload->>'key' = $1",
        [`request_rejected:${eventId}`],
      );
      assert.equal(raised.rows[0].n, 1);
      assert.ok(daemon.logs.some((l) => l.alert === "request_rejected" && l.eventId === eventId && l.level === 50));
    });
  }
});

describe("changes", () => {
  test("change without a service: usable -> changing -> changed -> usable with the new valid_end, each step audited", async () => {
    const { ticketIds } = await createOrder(db.pool, 1);
    const id = ticketIds[0] as number;
    await db.pool.query("select ticketing.request_change($1, 'chg-1', '{\"valid_end\": \"2032-05-06T07:08:09Z\"}')", [
      id,
    ]);
    const r = await finished("chg-1");
    assert.equal(r.status, "succeeded");
    assert.deepEqual(
      (await auditOf(id)).map((a) => `${a.prev_status}>${a.new_status}:${a.event_id}`),
      ["usable>changing:chg-1", "changing>changed:chg-1", "changed>usable:chg-1"],
    );
    const t = await ticket(id);
    assert.equal(t.status, "usable");
    assert.equal(t.valid_end.toISOString(), "2032-05-06T07:08:09.000Z");
    const types = (
      await db.pool.query("select type from ticketing.outbox where ticket_id = $1 order by seq", [id])
    ).rows.map((e) => e.type);
    assert.deepEqual(types, ["ticket.changing", "ticket.changed", "ticket.reissued"]);
  });

  test("a change of an expired ticket fails with an alert and counts tickets_change_failed_total", async () => {
    const { ticketIds } = await createOrder(db.pool, 1);
    const id = ticketIds[0] as number;
    await db.pool.query("select ticketing.transition_ticket($1, 'expired', 'expire')", [id]);
    const before = (await daemon.metrics.changeFailed.get()).values[0]?.value ?? 0;
    await db.pool.query(
      "select ticketing.request_change($1, 'chg-3', jsonb_build_object('valid_end', now() + interval '1 day'))",
      [id],
    );
    const r = await finished("chg-3");
    assert.equal(r.status, "failed");
    assert.match(r.error, /refuses expired -> changing/);
    assert.equal((await ticket(id)).status, "expired");
    assert.equal(((await daemon.metrics.changeFailed.get()).values[0]?.value ?? 0) - before, 1);
  });

  test("a change whose meta.valid_end is not a timestamp fails with an alert before the ticket moves", async () => {
    const { ticketIds } = await createOrder(db.pool, 1);
    const id = ticketIds[0] as number;
    await addJob("ticket_change_requested", {
      ticket_id: id,
      event_id: "chg-4",
      meta: { valid_end: "next tuesday-ish" },
    });
    const r = await finished("chg-4");
    assert.equal(r.status, "failed");
    assert.match(r.error, /meta.valid_end 'next tuesday-ish' is not a timestamp with an explicit UTC offset/);
    assert.deepEqual(await auditOf(id), []);
    assert.equal((await ticket(id)).status, "usable");
    const alerts = await db.pool.query("select kind from ticketing.alerts where key = 'request_rejected:chg-4'");
    assert.deepEqual(alerts.rows, [{ kind: "request_rejected" }]);
  });

  test("the built-in policy is one transaction: a failure while applying writes nothing, the retry applies it once", async () => {
    const { ticketIds } = await createOrder(db.pool, 1);
    const id = ticketIds[0] as number;
    // Fails the last write of the flow (changed -> usable's event); the first two steps must roll back with it.
    await db.pool.query(`
      create function ticketing.test_fail_reissue() returns trigger language plpgsql as $$
      begin raise exception 'injected failure' using errcode = '55000'; end $$;
      create trigger test_fail_reissue before insert on ticketing.outbox
        for each row when (new.type = 'ticket.reissued') execute function ticketing.test_fail_reissue()`);
    try {
      await addJob("ticket_change_requested", {
        ticket_id: id,
        event_id: "chg-5",
        meta: { valid_end: "2031-01-01T00:00:00Z" },
      });
      await waitFor("the first attempt to fail", async () =>
        (await jobsFor("chg-5"))[0]?.last_error?.includes("injected failure"),
      );
      assert.equal(await request("chg-5"), undefined, "no request row: the claim rolled back with the rest");
      assert.deepEqual(await auditOf(id), []);
      assert.equal((await ticket(id)).status, "usable");
    } finally {
      await db.pool.query(
        "drop trigger test_fail_reissue on ticketing.outbox; drop function ticketing.test_fail_reissue()",
      );
    }
    const r = await finished("chg-5");
    assert.equal(r.status, "succeeded");
    assert.deepEqual(
      (await auditOf(id)).map((a) => `${a.prev_status}>${a.new_status}`),
      ["usable>changing", "changing>changed", "changed>usable"],
    );
  });
});

describe("bad payloads never cost a retry storm", () => {
  const cases: Array<[string, unknown, RegExp | null]> = [
    ["no payload", null, null],
    ["ticket_id missing", { event_id: "bp-1" }, null],
    ["ticket_id not an integer", { ticket_id: "twelve", event_id: "bp-2" }, null],
    ["ticket_id a fraction", { ticket_id: 1.5, event_id: "bp-2b" }, null],
    ["ticket_id beyond bigint", { ticket_id: "9223372036854775808", event_id: "bp-2c" }, null],
    ["event_id missing", { ticket_id: 1 }, null],
    [
      "event_id oversized",
      { ticket_id: "T", event_id: "x".repeat(300) },
      /event_id is 300 characters long; the limit is 200/,
    ],
    ["meta an array", { ticket_id: "T", event_id: "bp-3", meta: [1, 2] }, /meta/],
    ["meta oversized", { ticket_id: "T", event_id: "bp-4", meta: { blob: "y".repeat(20_000) } }, /16384/],
    ["unknown ticket", { ticket_id: 987654321, event_id: "bp-5" }, /unknown ticket 987654321/],
  ];
  for (const [name, payload, recorded] of cases) {
    test(`${name}: job completes, reason recorded`, async () => {
      const { ticketIds } = await createOrder(db.pool, 1);
      const id = ticketIds[0] as number;
      const concrete =
        payload && typeof payload === "object"
          ? Object.fromEntries(Object.entries(payload).map(([k, v]) => [k, v === "T" ? id : v]))
          : payload;
      const { rows } = await db.pool.query(
        "select id from graphile_worker.add_job('ticket_refund_requested', $1::json)",
        [JSON.stringify(concrete)],
      );
      const jobId = String(rows[0].id);
      await waitFor(
        "bad job gone",
        async () =>
          (await db.pool.query("select 1 from graphile_worker._private_jobs where id = $1", [jobId])).rowCount === 0,
      );
      assert.equal((await ticket(id)).status, "usable");
      if (recorded) {
        const r = await request((concrete as { event_id: string }).event_id);
        assert.equal(r.status, "failed");
        assert.match(r.error, recorded);
      } else {
        assert.ok(
          daemon.logs.some(
            (l) =>
              l.jobId === jobId &&
              l.level === 50 &&
              l.dropped === "invalid_payload" &&
              l.msg === "invalid payload; job dropped" &&
              typeof l.reason === "string",
          ),
          "error log with the job id, the reason and the alerting field",
        );
      }
    });
  }
});

describe("every task drops an invalid payload with the one log line", () => {
  const cases: Array<[string, unknown]> = [
    ["expire_tickets", { batch_size: 0 }],
    ["check_order", { order_id: "twelve" }],
    ["redrive_requests", { limit: 0 }],
    ["bulk_refund", { bulk_id: -1 }],
  ];
  for (const [task, payload] of cases) {
    test(`${task}: the job completes, one error line says why`, async () => {
      const { rows } = await db.pool.query("select id from graphile_worker.add_job($1, $2::json)", [
        task,
        JSON.stringify(payload),
      ]);
      const jobId = String(rows[0].id);
      await waitFor(
        "bad job gone",
        async () =>
          (await db.pool.query("select 1 from graphile_worker._private_jobs where id = $1", [jobId])).rowCount === 0,
      );
      const lines = daemon.logs.filter((l) => l.jobId === jobId && l.dropped === "invalid_payload");
      assert.equal(lines.length, 1);
      assert.equal(lines[0]?.level, 50);
      assert.equal(lines[0]?.msg, "invalid payload; job dropped");
      assert.equal(lines[0]?.task, task);
      assert.match(String(lines[0]?.reason), /^invalid payload: /);
    });
  }
});

describe("refund_job re-drives lost requests", () => {
  test("a pending request whose job was lost is processed by the next re-drive", async () => {
    refundAnswer = () => ({ status: 200, body: { target_status: "refunded" } });
    const { ticketIds } = await createOrder(db.pool, 1);
    const id = ticketIds[0] as number;
    // As if the job had been lost: the request row exists, no job does, and it has waited long enough.
    await asEngine(
      db.pool,
      "insert into ticketing.ticket_requests (event_id, kind, ticket_id, updated_at) values ('lost-1', 'refund', $1, now() - interval '10 minutes')",
      [id],
    );
    await addJob("redrive_requests", { older_than_seconds: 60 });
    assert.equal((await finished("lost-1")).status, "succeeded");
    assert.equal((await ticket(id)).status, "refunded");
  });

  test("a request being processed (live lease) is not re-driven", async () => {
    const { ticketIds } = await createOrder(db.pool, 1);
    const id = ticketIds[0] as number;
    await asEngine(
      db.pool,
      "insert into ticketing.ticket_requests (event_id, kind, ticket_id, locked_until, updated_at) values ('leased-1', 'refund', $1, now() + interval '10 minutes', now() - interval '10 minutes')",
      [id],
    );
    await db.pool.query("select ticketing.redrive_requests(interval '1 minute')");
    assert.equal((await jobsFor("leased-1")).length, 0);
    assert.equal((await request("leased-1")).status, "pending");
  });
});
