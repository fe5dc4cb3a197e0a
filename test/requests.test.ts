// Refund and change requests at the edges: ids across the whole bigint range, attempts that run out, jobs
// that die, changes that could not be re-issued, and leases that ran out. Two daemons on two databases: one
// with refund-processing and the change service (real HTTP stand-ins), one with the built-in policy.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type pg from "pg";
import { bigintId } from "../src/bigintId.ts";
import { parseExactJson, rawInteger } from "../src/db/exactJson.ts";
import { startTestDaemon, type TestDaemon, waitFor } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { createOrder, JOBS_SQL, sqlState } from "./support/fixtures.ts";
import { type StubAnswer, type StubRequest, startHttpStub } from "./support/httpStub.ts";

let served: TestDatabase;
let builtIn: TestDatabase;
let servedDaemon: TestDaemon;
let builtInDaemon: TestDaemon;
let refundStub: Awaited<ReturnType<typeof startHttpStub>>;
let changeStub: Awaited<ReturnType<typeof startHttpStub>>;
let refundAnswer: (request: StubRequest) => StubAnswer = () => ({ status: 200, body: { target_status: "refunded" } });
let changeAnswer: (request: StubRequest) => StubAnswer = () => ({ status: 200, body: { target_status: "changed" } });

before(async () => {
  [served, builtIn] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  refundStub = await startHttpStub((request) => refundAnswer(request));
  changeStub = await startHttpStub((request) => changeAnswer(request));
  servedDaemon = await startTestDaemon(served, {
    REFUND_SERVICE_URL: refundStub.url,
    CHANGE_SERVICE_URL: changeStub.url,
  });
  builtInDaemon = await startTestDaemon(builtIn);
});
after(async () => {
  await Promise.all([servedDaemon?.stop(), builtInDaemon?.stop()]);
  await Promise.all([refundStub?.close(), changeStub?.close()]);
  await Promise.all([served?.drop(), builtIn?.drop()]);
});

const BIG = "9007199254740993"; // 2^53 + 1: the first integer a double cannot hold
const MAX = "9223372036854775807"; // bigint's largest

/** One order with the given ticket ids (decimal strings, any bigint), valid for a day. */
async function orderWith(db: TestDatabase, orderId: string, ticketIds: string[]) {
  await db.pool.query("insert into ticketing.orders (id) values ($1::bigint)", [orderId]);
  await db.pool.query(
    "insert into ticketing.tickets (id, order_id, valid_end) select id, $1::bigint, now() + interval '1 day' from unnest($2::bigint[]) id",
    [orderId, ticketIds],
  );
}

/** graphile_worker.add_job with the payload's JSON text exactly as written (ids as JSON numbers). */
const addRawJob = (db: TestDatabase, task: string, payloadJson: string, maxAttempts = 25) =>
  db.pool.query("select graphile_worker.add_job($1, $2::json, max_attempts => $3)", [task, payloadJson, maxAttempts]);

const request = async (db: TestDatabase, eventId: string) =>
  (
    await db.pool.query(
      "select status, error, ticket_id::text, redrives, attempts from ticketing.ticket_requests where event_id = $1",
      [eventId],
    )
  ).rows[0];
const jobsFor = async (db: TestDatabase, eventId: string) =>
  (await db.pool.query(`select * from (${JOBS_SQL}) j where payload->>'event_id' = $1`, [eventId])).rows;
const ticketOf = async (db: TestDatabase, id: string) =>
  (await db.pool.query("select status, valid_end, seq::int from ticketing.tickets where id = $1::bigint", [id]))
    .rows[0];
const alertOf = async (db: TestDatabase, eventId: string) =>
  (
    await db.pool.query(
      "select kind, details->>'ticket_id' as ticket_id, details->>'reason' as reason from ticketing.alerts where key = $1 and cleared_at is null",
      [`request_rejected:${eventId}`],
    )
  ).rows;
const finished = (db: TestDatabase, eventId: string, timeoutMs?: number) =>
  waitFor(
    `request ${eventId} finished`,
    async () => {
      const r = await request(db, eventId);
      return r && r.status !== "pending" && (await jobsFor(db, eventId)).length === 0 ? r : undefined;
    },
    timeoutMs,
  );
const finishedCount = async (daemon: TestDaemon, kind: string, outcome: string) =>
  (await daemon.metrics.requestsFinished.get()).values.find(
    (v) => v.labels.kind === kind && v.labels.outcome === outcome,
  )?.value ?? 0;

describe("ids across the whole bigint range", () => {
  const ids = [BIG, MAX, "0", "-5"];

  test("the pool's json parser: unsafe integers kept exact, everything else as JSON.parse has it", () => {
    const text = `{"a": ${BIG}, "b": [-${MAX}, 1.5, 1e300, 9007199254740992.0, 42, -0], "c": "${BIG}", "d": null, "e": {"f": true}}`;
    const parsed = parseExactJson(text) as Record<string, unknown>;
    assert.equal(rawInteger(parsed.a), BIG);
    const b = parsed.b as unknown[];
    assert.equal(rawInteger(b[0]), `-${MAX}`);
    assert.deepEqual(b.slice(1), [1.5, 1e300, 9007199254740992, 42, -0]);
    assert.deepEqual([parsed.c, parsed.d, parsed.e], [BIG, null, { f: true }]);
    assert.equal(
      JSON.stringify(parsed),
      `{"a":${BIG},"b":[-${MAX},1.5,1e+300,9007199254740992,42,0],"c":"${BIG}","d":null,"e":{"f":true}}`,
    );
  });

  test("payload ids: integers and decimal strings within bigint, as strings; anything else refused", () => {
    const accepted: Array<[unknown, string]> = [
      [0, "0"],
      [-5, "-5"],
      [5.0, "5"],
      ["007", "7"],
      [MAX, MAX],
      [`-${MAX}`, `-${MAX}`],
      ["-9223372036854775808", "-9223372036854775808"],
      [parseExactJson(BIG), BIG],
    ];
    for (const [input, id] of accepted) assert.equal(bigintId.parse(input), id, JSON.stringify(input));
    for (const input of [1.5, 2 ** 60, "9223372036854775808", "-9223372036854775809", "1e3", " 1", "", null, true, {}])
      assert.equal(bigintId.safeParse(input).success, false, String(input));
  });

  test("raw add_job and the SQL API with a refund service: rows, the service's body and the logs carry the exact ids", async () => {
    refundAnswer = () => ({ status: 200, body: { target_status: "refunded" } });
    // Each ticket's neighbour differs in the last digit only: a rounded id would refund the wrong one.
    const orderId = "9223372036854775806";
    const tickets = ["9007199254740992", BIG, "9223372036854775805", MAX, "0", "-5", "-4", "1"];
    await orderWith(served, orderId, tickets);
    for (const [i, id] of ids.entries()) {
      const eventId = `exact-${i}`;
      if (i % 2 === 0)
        await addRawJob(served, "ticket_refund_requested", `{"ticket_id": ${id}, "event_id": "${eventId}"}`);
      else
        assert.equal(
          (await served.pool.query("select ticketing.request_refund($1::bigint, $2) as r", [id, eventId])).rows[0].r,
          "queued",
        );
    }
    for (const [i, id] of ids.entries()) {
      const eventId = `exact-${i}`;
      const r = await finished(served, eventId);
      assert.equal(r.status, "succeeded", `${eventId}: ${r.error}`);
      assert.equal(r.ticket_id, id);
      assert.equal((await ticketOf(served, id)).status, "refunded");
      const call = refundStub.requests.find((q) => (q.json as { event_id?: string }).event_id === eventId);
      assert.ok(call, `refund-processing was called for ${eventId}`);
      assert.ok(call.body.includes(`"ticket_id":${id},`), `exact JSON number in ${call.body}`);
      assert.ok(call.body.includes(`"order_id":${orderId},`), `exact order id in ${call.body}`);
      const line = servedDaemon.logs.find((l) => l.msg === "request applied" && l.eventId === eventId);
      assert.equal(line?.ticketId, id);
    }
    for (const untouched of ["9007199254740992", "9223372036854775805", "-4", "1"])
      assert.equal((await ticketOf(served, untouched)).status, "usable", `ticket ${untouched}`);
  });

  test("the built-in policy: a raw job naming 2^53 + 1 as a number or as a string refunds exactly that ticket", async () => {
    await orderWith(builtIn, MAX, ["9007199254740992", BIG, "9007199254740994"]);
    await addRawJob(builtIn, "ticket_refund_requested", `{"ticket_id": ${BIG}, "event_id": "exact-num"}`);
    await addRawJob(builtIn, "ticket_refund_requested", `{"ticket_id": "9007199254740994", "event_id": "exact-str"}`);
    assert.equal((await finished(builtIn, "exact-num")).status, "succeeded");
    assert.equal((await finished(builtIn, "exact-str")).status, "succeeded");
    assert.equal((await ticketOf(builtIn, BIG)).status, "refunded");
    assert.equal((await ticketOf(builtIn, "9007199254740994")).status, "refunded");
    assert.equal((await ticketOf(builtIn, "9007199254740992")).status, "usable");
    assert.equal(
      (await builtIn.pool.query("select status from ticketing.orders where id = $1::bigint", [MAX])).rows[0].status,
      "open",
    );
  });

  test("check_order with bigint's largest order id: recomputed, logged exactly", async () => {
    const orderId = "9223372036854775000";
    await orderWith(builtIn, orderId, ["9223372036854775001"]);
    await addRawJob(builtIn, "check_order", `{"order_id": ${orderId}}`);
    const line = await waitFor("order check log", async () =>
      builtInDaemon.logs.find((l) => l.task === "check_order" && l.orderId === orderId),
    );
    assert.equal(line.status, "open");
  });

  test("a meta integer beyond 2^53 reaches the rule service exactly", async () => {
    refundAnswer = () => ({ status: 200, body: { target_status: "refunded" } });
    await orderWith(served, "7000", ["7001"]);
    await addRawJob(
      served,
      "ticket_refund_requested",
      `{"ticket_id": 7001, "event_id": "meta-big", "meta": {"n": ${MAX}}}`,
    );
    assert.equal((await finished(served, "meta-big")).status, "succeeded");
    const call = refundStub.requests.find((q) => (q.json as { event_id?: string }).event_id === "meta-big");
    assert.ok(call?.body.includes(`"meta":{"n":${MAX}}`), call?.body);
    const stored = await served.pool.query(
      "select meta->>'n' as n, jsonb_typeof(meta->'n') as type from ticketing.ticket_requests where event_id = 'meta-big'",
    );
    assert.deepEqual(stored.rows[0], { n: MAX, type: "number" });
  });

  test("ids the SQL API cannot take are refused at the call, nothing queued", async () => {
    assert.equal(await sqlState(builtIn.pool.query("select ticketing.request_refund(null, 'no-id')")), "TL422");
    assert.equal(
      await sqlState(builtIn.pool.query("select ticketing.request_refund('9223372036854775808', 'too-big')")),
      "22003",
    );
    assert.equal(
      await sqlState(builtIn.pool.query("select ticketing.request_refund(-6, 'unknown-negative')")),
      "TL404",
    );
    const { rows } = await builtIn.pool.query(
      "select count(*)::int as n from ticketing.ticket_requests where event_id in ('no-id', 'too-big', 'unknown-negative')",
    );
    assert.equal(rows[0].n, 0);
    for (const eventId of ["no-id", "too-big", "unknown-negative"])
      assert.deepEqual(await jobsFor(builtIn, eventId), []);
  });
});

/** Makes every write that would finish or lease request `eventId` fail as a transient fault would. */
async function plantRequestFailure(db: TestDatabase, eventId: string) {
  await db.pool.query(`
    create function ticketing.test_fail_request() returns trigger language plpgsql as $$
    begin raise exception 'injected transient failure' using errcode = '55000'; end $$;
    create trigger test_fail_request before update on ticketing.ticket_requests for each row
      when (new.event_id = '${eventId}' and (new.locked_until is not null or new.status = 'succeeded'))
      execute function ticketing.test_fail_request()`);
}
const removeRequestFailure = (db: TestDatabase) =>
  db.pool.query(
    "drop trigger test_fail_request on ticketing.ticket_requests; drop function ticketing.test_fail_request()",
  );

/** Runs `work` in one transaction, so that the daemon sees all of it or nothing. */
async function inOneTransaction<T>(db: TestDatabase, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
}
/** Gives the queued job of request `eventId` a single attempt, so that it dies at its first failure. */
const oneAttempt = (client: pg.PoolClient, ticketId: number, eventId: string) =>
  client.query(
    "select graphile_worker.add_job('ticket_refund_requested', json_build_object('ticket_id', $1::bigint, 'event_id', $2::text, 'meta', '{}'::json), job_key => 'request:' || $2, job_key_mode => 'replace', max_attempts => 1)",
    [ticketId, eventId],
  );
/** Requests `eventId` through the SQL API, its job limited to one attempt. */
const requestWithOneAttempt = (db: TestDatabase, ticketId: number, eventId: string) =>
  inOneTransaction(db, async (client) => {
    await client.query("select ticketing.request_refund($1, $2)", [ticketId, eventId]);
    await oneAttempt(client, ticketId, eventId);
  });
const deadJob = (db: TestDatabase, eventId: string) =>
  waitFor(`the job of ${eventId} to die`, async () => {
    const [job] = await jobsFor(db, eventId);
    return job && job.attempts >= job.max_attempts && job.locked_by === null ? job : undefined;
  });

describe("SQL alone judges the input limits", () => {
  /**
   * A meta whose jsonb text (what ticketing.meta_problem measures) is exactly `bytes` long. Its JSON.stringify
   * is shorter (jsonb's text puts a space after each colon and comma): the byte count TypeScript once checked
   * would have judged both sides of the limit alike.
   */
  async function metaOf(db: TestDatabase, bytes: number) {
    const base = { a: 1, b: [1, 2], c: { d: "x" }, pad: "" };
    const { rows } = await db.pool.query("select octet_length($1::jsonb::text) as n", [JSON.stringify(base)]);
    const meta = { ...base, pad: "y".repeat(bytes - rows[0].n) };
    const measured = await db.pool.query("select octet_length($1::jsonb::text) as n", [JSON.stringify(meta)]);
    assert.equal(measured.rows[0].n, bytes);
    assert.ok(Buffer.byteLength(JSON.stringify(meta)) < bytes - 5, "TypeScript's count differs from SQL's");
    return meta;
  }
  const payload = (ticketId: number, eventId: string, meta: unknown) =>
    JSON.stringify({ ticket_id: ticketId, event_id: eventId, meta });

  for (const [policy, db] of [
    ["built-in", () => builtIn],
    ["service", () => served],
  ] as const) {
    test(`${policy} policy: a raw add_job's meta of 16384 bytes is applied, one byte more fails with SQL's words, never retried`, async () => {
      refundAnswer = () => ({ status: 200, body: { target_status: "refunded" } });
      const { ticketIds } = await createOrder(db().pool, 2);
      const [atLimit, over] = ticketIds as [number, number];
      await addRawJob(
        db(),
        "ticket_refund_requested",
        payload(atLimit, `meta-limit-${policy}`, await metaOf(db(), 16384)),
      );
      await addRawJob(db(), "ticket_refund_requested", payload(over, `meta-over-${policy}`, await metaOf(db(), 16385)));

      assert.equal((await finished(db(), `meta-limit-${policy}`)).status, "succeeded");
      assert.equal((await ticketOf(db(), String(atLimit))).status, "refunded");
      const failed = await finished(db(), `meta-over-${policy}`);
      assert.deepEqual(
        { status: failed.status, error: failed.error, attempts: failed.attempts },
        { status: "failed", error: "invalid payload: meta is 16385 bytes; the limit is 16384", attempts: 0 },
      );
      assert.equal((await ticketOf(db(), String(over))).status, "usable");
      assert.deepEqual(await alertOf(db(), `meta-over-${policy}`), []);
      assert.equal(
        refundStub.requests.filter((q) => (q.json as { event_id?: string }).event_id === `meta-over-${policy}`).length,
        0,
        "no service asked",
      );
    });
  }

  test("an event_id of 200 characters is applied, 201 fails with SQL's words; one too long to index is dropped", async () => {
    const { ticketIds } = await createOrder(builtIn.pool, 3);
    const [atLimit, over, huge] = ticketIds as [number, number, number];
    const at = "e".repeat(200);
    const beyond = "f".repeat(201);
    await addRawJob(builtIn, "ticket_refund_requested", payload(atLimit, at, {}));
    await addRawJob(builtIn, "ticket_refund_requested", payload(over, beyond, {}));
    assert.equal((await finished(builtIn, at)).status, "succeeded");
    const failed = await finished(builtIn, beyond);
    assert.equal(failed.status, "failed");
    assert.equal(failed.error, "invalid payload: event_id is 201 characters long; the limit is 200");
    assert.equal((await ticketOf(builtIn, String(over))).status, "usable");

    // No index holds an event_id this long (random, so that compression cannot shrink it): no row can record
    // it, and the job still ends at its first attempt with the reason logged.
    const unindexable = Array.from({ length: 6000 }, () => Math.random().toString(36).slice(2, 3)).join("");
    await addRawJob(builtIn, "ticket_refund_requested", payload(huge, unindexable, {}));
    await waitFor("its job to complete", async () => (await jobsFor(builtIn, unindexable)).length === 0);
    const line = builtInDaemon.logs.find((l) => l.eventId === unindexable && l.outcome === "invalid");
    assert.equal(line?.level, 50);
    assert.equal((await request(builtIn, unindexable)) ?? null, null);
    assert.equal((await ticketOf(builtIn, String(huge))).status, "usable");
  });
});

describe("every request ends succeeded or failed", () => {
  test("built-in policy: a transient fault outlasting the attempts fails the request with an alert; the job is gone", async () => {
    const { ticketIds } = await createOrder(builtIn.pool, 1);
    const id = ticketIds[0] as number;
    await builtIn.pool.query(`
      create function ticketing.test_fail_refund() returns trigger language plpgsql as $$
      begin raise exception 'injected transient failure' using errcode = '55000'; end $$;
      create trigger test_fail_refund before insert on ticketing.outbox for each row
        when (new.type = 'ticket.refunded' and new.ticket_id = ${id}) execute function ticketing.test_fail_refund()`);
    try {
      await addRawJob(builtIn, "ticket_refund_requested", `{"ticket_id": ${id}, "event_id": "exhaust-builtin"}`, 2);
      const r = await finished(builtIn, "exhaust-builtin");
      assert.equal(r.status, "failed");
      assert.match(r.error, /^gave up after 2 attempts: injected transient failure/);
    } finally {
      await builtIn.pool.query(
        "drop trigger test_fail_refund on ticketing.outbox; drop function ticketing.test_fail_refund()",
      );
    }
    assert.deepEqual(await alertOf(builtIn, "exhaust-builtin"), [
      {
        kind: "request_rejected",
        ticket_id: String(id),
        reason: "gave up after 2 attempts: injected transient failure",
      },
    ]);
    assert.deepEqual(await jobsFor(builtIn, "exhaust-builtin"), []);
    assert.equal((await ticketOf(builtIn, String(id))).status, "usable");
  });

  test("service policy: refund-processing answering 503 past the attempts fails the request with an alert, no URL in it", async () => {
    refundAnswer = (q) =>
      (q.json as { event_id?: string }).event_id === "exhaust-served"
        ? { status: 503, body: "down" }
        : { status: 200, body: { target_status: "refunded" } };
    const { ticketIds } = await createOrder(served.pool, 1);
    const id = ticketIds[0] as number;
    await addRawJob(served, "ticket_refund_requested", `{"ticket_id": ${id}, "event_id": "exhaust-served"}`, 2);
    const r = await finished(served, "exhaust-served");
    assert.equal(r.status, "failed");
    assert.equal(r.error, "gave up after 2 attempts: refund-processing answered 503: down");
    const alerts = await alertOf(served, "exhaust-served");
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0].reason, r.error);
    assert.deepEqual(await jobsFor(served, "exhaust-served"), []);
    assert.equal((await ticketOf(served, String(id))).status, "usable");
    assert.equal(
      refundStub.requests.filter((q) => (q.json as { event_id?: string }).event_id === "exhaust-served").length,
      2,
    );
  });

  test("a request whose job died (even failing the request failed) is revived by the re-drive and succeeds", async () => {
    const { ticketIds } = await createOrder(builtIn.pool, 1);
    const id = ticketIds[0] as number;
    await plantRequestFailure(builtIn, "revive-1");
    try {
      await requestWithOneAttempt(builtIn, id, "revive-1");
      await deadJob(builtIn, "revive-1");
      assert.equal((await request(builtIn, "revive-1")).status, "pending");
    } finally {
      await removeRequestFailure(builtIn);
    }
    await addRawJob(builtIn, "redrive_requests", `{"older_than_seconds": 0}`);
    const r = await finished(builtIn, "revive-1");
    assert.equal(r.status, "succeeded");
    assert.equal(r.redrives, 1);
    assert.equal((await ticketOf(builtIn, String(id))).status, "refunded");
  });

  test("a request whose job keeps dying is failed by the re-drive with an alert, never looped", async () => {
    const { ticketIds } = await createOrder(builtIn.pool, 1);
    const id = ticketIds[0] as number;
    await plantRequestFailure(builtIn, "dying-1");
    try {
      await requestWithOneAttempt(builtIn, id, "dying-1");
      await deadJob(builtIn, "dying-1");
      // Re-driven once; the revived job dies as well.
      const first = await inOneTransaction(builtIn, async (client) => {
        const { rows } = await client.query("select * from ticketing.redrive_requests(interval '0', 1000, 1)");
        await oneAttempt(client, id, "dying-1");
        return rows;
      });
      assert.deepEqual(first, [{ kind: "refund", redriven: "1", failed: "0" }]);
      await deadJob(builtIn, "dying-1");
      // This time through the refund job itself: the failure is counted and logged.
      const failedBefore = await finishedCount(builtInDaemon, "refund", "failed");
      await addRawJob(builtIn, "redrive_requests", `{"older_than_seconds": 0, "max_redrives": 1}`);
      await waitFor("the re-drive to fail it", async () => (await request(builtIn, "dying-1")).status === "failed");
      const line = await waitFor("the re-drive's log", async () =>
        builtInDaemon.logs.find((l) => l.msg === "failed requests whose job kept dying" && l.kind === "refund"),
      );
      assert.equal(line.alert, "request_rejected");
      assert.equal((await finishedCount(builtInDaemon, "refund", "failed")) - failedBefore, 1);
    } finally {
      await removeRequestFailure(builtIn);
    }
    const r = await request(builtIn, "dying-1");
    assert.equal(r.status, "failed");
    assert.match(r.error, /its job died 2 times without finishing it/);
    assert.equal((await alertOf(builtIn, "dying-1")).length, 1);
    assert.equal((await ticketOf(builtIn, String(id))).status, "usable");
  });

  test("a request whose job is merely waiting for its next attempt is left alone by the re-drive", async () => {
    const { ticketIds } = await createOrder(builtIn.pool, 1);
    const id = ticketIds[0] as number;
    await inOneTransaction(builtIn, async (client) => {
      await client.query("select ticketing.request_refund($1, 'waiting-1')", [id]);
      await client.query(
        "select graphile_worker.reschedule_jobs(array(select id from graphile_worker._private_jobs where key = 'request:waiting-1'), run_at => now() + interval '1 hour')",
      );
    });
    const [job] = await jobsFor(builtIn, "waiting-1");
    for (let i = 0; i < 3; i++) await builtIn.pool.query("select ticketing.redrive_requests(interval '0', 1000, 0)");
    const r = await request(builtIn, "waiting-1");
    assert.deepEqual([r.status, r.redrives], ["pending", 0]);
    assert.deepEqual(await jobsFor(builtIn, "waiting-1"), [job]);
  });
});

describe("a change always carries the validity its re-issue needs", () => {
  const inAYear = new Date(Date.now() + 365 * 86_400_000).toISOString().slice(0, 10);
  const refused: Array<[string, unknown, RegExp]> = [
    ["missing", {}, /a change needs meta\.valid_end/],
    ["a number", { valid_end: 1893456000 }, /must be a string timestamp, not number/],
    ["without an offset", { valid_end: `${inAYear} 12:00` }, /is not a timestamp with an explicit UTC offset/],
    ["infinity", { valid_end: "infinity" }, /is not finite/],
    ["more than ten years ahead", { valid_end: "2099-01-01T00:00:00Z" }, /out of range/],
    ["in the past", { valid_end: "2020-01-01T00:00:00Z" }, /out of range/],
    ["not a date", { valid_end: `${inAYear}T25:00:00Z` }, /is not a timestamp$/],
  ];
  for (const [name, meta, message] of refused) {
    test(`meta.valid_end ${name}: request_change refuses with TL422, nothing recorded or queued`, async () => {
      const { ticketIds } = await createOrder(builtIn.pool, 1);
      const eventId = `chg-refused-${ticketIds[0]}`;
      const client = await builtIn.pool.connect();
      try {
        await client.query("set role ticketing_client");
        await assert.rejects(
          client.query("select ticketing.request_change($1, $2, $3)", [ticketIds[0], eventId, meta]),
          {
            code: "TL422",
            message,
          },
        );
      } finally {
        await client.query("reset role");
        client.release();
      }
      assert.equal(await request(builtIn, eventId), undefined);
      assert.deepEqual(await jobsFor(builtIn, eventId), []);
    });
  }

  test("a New York time with its offset lands at the right UTC instant, whatever the session's time zone", async () => {
    const { ticketIds } = await createOrder(builtIn.pool, 1);
    const id = ticketIds[0] as number;
    const client = await builtIn.pool.connect();
    try {
      await client.query("set time zone 'Asia/Tokyo'");
      await client.query("select ticketing.request_change($1, 'chg-ny', $2)", [
        id,
        { valid_end: `${inAYear}T12:00:00-04:00` },
      ]);
    } finally {
      await client.query("reset time zone");
      client.release();
    }
    assert.equal((await finished(builtIn, "chg-ny")).status, "succeeded");
    const t = await ticketOf(builtIn, String(id));
    assert.equal(t.status, "usable");
    assert.equal(t.valid_end.toISOString(), `${inAYear}T16:00:00.000Z`);
  });

  for (const [name, meta] of [
    ["no valid_end", "{}"],
    ["a number", '{"valid_end": 1893456000}'],
  ] as const) {
    test(`a raw change job with ${name} fails with an alert before the ticket moves (both policies)`, async () => {
      for (const [db, daemon] of [
        [builtIn, builtInDaemon],
        [served, servedDaemon],
      ] as const) {
        const { ticketIds } = await createOrder(db.pool, 1);
        const id = ticketIds[0] as number;
        const eventId = `chg-raw-${id}`;
        await addRawJob(
          db,
          "ticket_change_requested",
          `{"ticket_id": ${id}, "event_id": "${eventId}", "meta": ${meta}}`,
        );
        const r = await finished(db, eventId);
        assert.equal(r.status, "failed");
        assert.match(r.error, /meta\.valid_end/);
        assert.equal((await ticketOf(db, String(id))).status, "usable");
        assert.equal((await ticketOf(db, String(id))).seq, 0);
        assert.equal((await alertOf(db, eventId)).length, 1);
        assert.ok(daemon.logs.some((l) => l.eventId === eventId && l.alert === "request_rejected"));
      }
      assert.ok(
        !changeStub.requests.some((q) => String((q.json as { event_id?: string }).event_id).startsWith("chg-raw-")),
      );
    });
  }

  test("with a change service: the decision's valid_end wins; without one the request's own re-issues the ticket", async () => {
    const { ticketIds } = await createOrder(served.pool, 2);
    const [decided, own] = ticketIds as [number, number];
    changeAnswer = (q) =>
      (q.json as { event_id?: string }).event_id === "chg-decided"
        ? { status: 200, body: { target_status: "changed", valid_end: `${inAYear}T08:00:00Z` } }
        : { status: 200, body: { target_status: "changed" } };
    for (const [id, eventId] of [
      [decided, "chg-decided"],
      [own, "chg-own"],
    ] as const)
      await served.pool.query("select ticketing.request_change($1, $2, $3)", [
        id,
        eventId,
        { valid_end: `${inAYear}T20:00:00+02:00` },
      ]);
    assert.equal((await finished(served, "chg-decided")).status, "succeeded");
    assert.equal((await finished(served, "chg-own")).status, "succeeded");
    const [d, o] = [await ticketOf(served, String(decided)), await ticketOf(served, String(own))];
    assert.deepEqual([d.status, d.valid_end.toISOString()], ["usable", `${inAYear}T08:00:00.000Z`]);
    assert.deepEqual([o.status, o.valid_end.toISOString()], ["usable", `${inAYear}T18:00:00.000Z`]);
  });
});

describe("leases carry a token", () => {
  test("a worker whose lease ran out cannot release, fail or decide the lease another worker took since", async () => {
    const { ticketIds } = await createOrder(builtIn.pool, 1);
    const id = ticketIds[0] as number;
    // No job: only the two workers below touch this request. The first lease has already run out.
    const claim = async (lease: string) =>
      (
        await builtIn.pool.query(
          "select outcome, lease_token from ticketing.claim_request('refund', $1, 'lease-1', '{}', $2::interval)",
          [id, lease],
        )
      ).rows[0];
    const first = await claim("-1 second");
    const second = await claim("10 minutes");
    assert.equal(first.outcome, "claimed");
    assert.equal(second.outcome, "claimed");
    assert.notEqual(first.lease_token, second.lease_token);
    assert.equal((await claim("10 minutes")).outcome, "busy");

    const stale = first.lease_token;
    const q = (sql: string, params: unknown[]) => builtIn.pool.query(sql, params).then((r) => r.rows[0]);
    assert.equal((await q("select ticketing.release_request('lease-1', $1, 'x') as ok", [stale])).ok, null);
    assert.equal((await q("select ticketing.fail_request('lease-1', $1, 'x', true) as ok", [stale])).ok, false);
    assert.equal((await q("select ticketing.fail_request('lease-1', null, 'x', true) as ok", [])).ok, false);
    assert.equal(
      (await q("select outcome from ticketing.apply_decision('lease-1', $1, 'refunded', null, '{}')", [stale])).outcome,
      "finished",
    );
    let r = await request(builtIn, "lease-1");
    assert.equal(r.status, "pending");
    assert.equal(r.error, null);
    assert.equal((await ticketOf(builtIn, String(id))).status, "usable");
    const live = await builtIn.pool.query(
      "select locked_until > now() as live from ticketing.ticket_requests where event_id = 'lease-1'",
    );
    assert.equal(live.rows[0].live, true);

    // The holder's token works.
    assert.equal(
      (await q("select ticketing.release_request('lease-1', $1, 'busy') as ok", [second.lease_token])).ok,
      true,
    );
    const third = await claim("10 minutes");
    assert.equal(
      (
        await q("select outcome from ticketing.apply_decision('lease-1', $1, 'refunded', null, '{}')", [
          third.lease_token,
        ])
      ).outcome,
      "succeeded",
    );
    r = await request(builtIn, "lease-1");
    assert.equal(r.status, "succeeded");
    assert.equal((await ticketOf(builtIn, String(id))).status, "refunded");
  });
});
