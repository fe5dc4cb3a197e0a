// Property-based tests (fast-check) over what other services can send: job payloads for every task, and
// the arguments of the SQL API. Whatever comes in, the daemon keeps running, nothing is half-written, and
// no job is retried for input that can never succeed.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import { startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrder } from "../support/fixtures.ts";
import { bookkeepingViolations, scalar } from "../support/reliability.ts";

/** Strings the way a careless or hostile producer writes them: any code unit, NUL, lone surrogates, SQL. */
const nastyString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ maxLength: 260 }),
  fc.constantFrom(
    "",
    "\u0000",
    "evt\u0000",
    "\ud800",
    "'); delete from ticketing.tickets; --",
    "x".repeat(200),
    "x".repeat(201),
    "ticket:1:1",
  ),
);
const json = fc.jsonValue({ maxDepth: 3 });
const idLike = (known: number[]) =>
  fc.oneof(
    fc.constantFrom(...known),
    fc.integer(),
    fc.constantFrom(0, -1, 1.5, 2 ** 53, 2 ** 63, 1e308, Number.MAX_SAFE_INTEGER),
    nastyString,
    json,
  );
// Near the 16 KiB limit in characters and in bytes (multi-byte text is larger than it looks).
const metaLike = fc.oneof(
  fc.dictionary(nastyString, json, { maxKeys: 5 }),
  json,
  fc.constantFrom({ blob: "m".repeat(17_000) }, { blob: "€".repeat(6_000) }, { blob: "m".repeat(16_370) }),
);

describe("job payloads", () => {
  let db: TestDatabase;
  let daemon: TestDaemon;
  before(async () => {
    db = await createTestDatabase();
    // Orders 1..10 with tickets 1..30 (ids are per file): the generated ids hit real rows often.
    for (let i = 0; i < 10; i++) await createOrder(db.pool, 3);
    daemon = await startTestDaemon(db, { LOG_LEVEL: "warn" });
  });
  after(async () => {
    await daemon.stop();
    await db.drop();
  });

  test("any payload, for any task, is finished on its first attempt: applied, or dropped with a reason", async () => {
    const request = fc.record(
      { ticket_id: idLike([1, 2, 3]), event_id: fc.oneof(nastyString, json), meta: metaLike },
      { requiredKeys: [] },
    );
    const job = fc.oneof(
      fc.record({
        task: fc.constantFrom("ticket_refund_requested", "ticket_change_requested"),
        payload: fc.oneof(request, json),
      }),
      fc.record({
        task: fc.constant("expire_tickets"),
        payload: fc.oneof(
          fc.record(
            { batch_size: idLike([1, 200]), lanes: idLike([1, 2]), grace_seconds: idLike([0]) },
            { requiredKeys: [] },
          ),
          json,
        ),
      }),
      fc.record({
        task: fc.constant("redrive_requests"),
        payload: fc.oneof(
          fc.record({ older_than_seconds: idLike([0]), limit: idLike([10]) }, { requiredKeys: [] }),
          json,
        ),
      }),
      fc.record({
        task: fc.constant("check_order"),
        payload: fc.oneof(fc.record({ order_id: idLike([1, 4]) }, { requiredKeys: [] }), json),
      }),
    );

    let batch = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(job, { minLength: 1, maxLength: 12 }), async (jobs) => {
        batch += 1;
        const ids: string[] = [];
        for (const { task, payload } of jobs) {
          try {
            const { rows } = await db.pool.query<{ id: string }>(
              "select id from graphile_worker.add_job($1, $2::json)",
              [task, JSON.stringify(payload)],
            );
            ids.push(rows[0]?.id as string);
          } catch (error) {
            // The database refused the job itself (not JSON it can store): nothing reached the daemon.
            assert.match(
              (error as { code?: string }).code ?? "",
              /^22/,
              `add_job refused ${JSON.stringify(payload)} with ${error}`,
            );
          }
        }
        const deadline = Date.now() + 30_000;
        for (;;) {
          const { rows } = await db.pool.query<{
            id: string;
            task: string;
            attempts: number;
            last_error: string | null;
            payload: unknown;
          }>(
            `select j.id, t.identifier as task, j.attempts, j.last_error, j.payload
               from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
              where j.id = any($1::bigint[])`,
            [ids],
          );
          const failed = rows.find((r) => r.last_error !== null);
          assert.equal(
            failed,
            undefined,
            `batch ${batch}: a job failed and would be retried: ${JSON.stringify(failed)}`,
          );
          if (rows.length === 0) break;
          assert.ok(Date.now() < deadline, `batch ${batch}: jobs still waiting after 30 s: ${JSON.stringify(rows)}`);
          await sleep(50);
        }
        assert.equal(await daemon.ready(), true, "the daemon is still ready");
        assert.deepEqual(await bookkeepingViolations(db.pool), []);
        const pending = await scalar<number>(
          db.pool,
          "select count(*)::int from ticketing.ticket_requests where status = 'pending'",
        );
        assert.equal(pending, 0, "no request is left half-done");
      }),
      { numRuns: 40 },
    );
  });
});

describe("SQL API arguments", () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    for (let i = 0; i < 10; i++) await createOrder(db.pool, 3);
  });
  after(async () => {
    await db.drop();
  });

  /** Everything a call could write, in one row: equal before and after a refused call. */
  const fingerprint = async () =>
    (
      await db.pool.query(`
        select (select md5(string_agg(id || ':' || status || ':' || seq || ':' || valid_end, ',' order by id)) from ticketing.tickets) as tickets,
               (select md5(string_agg(id || ':' || status, ',' order by id)) from ticketing.orders) as orders,
               (select count(*) from ticketing.ticket_status_audit) as audit,
               (select count(*) from ticketing.outbox) as outbox,
               (select count(*) from ticketing.ticket_requests) as requests,
               (select count(*) from ticketing.alerts) as alerts,
               (select count(*) from graphile_worker._private_jobs) as jobs`)
    ).rows[0];

  // The documented refusals (TL404 unknown ticket, TL409 illegal transition, TL422 invalid argument) and
  // the type errors PostgreSQL raises before the function runs (bad bigint, NUL in text, bad JSON).
  const REFUSALS = new Set(["TL404", "TL409", "TL422", "22P02", "22003", "22021", "22P05"]);

  test("any arguments: a documented answer or a refusal that writes nothing", async () => {
    const statuses = fc.oneof(
      fc.constantFrom("usable", "used", "refunded", "changing", "changed", "expired"),
      nastyString,
      fc.constant(null),
    );
    const ticketId = fc.oneof(
      fc.constantFrom(...[1, 2, 3, 4, 5].map(String)),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
      fc.constantFrom("9223372036854775808", "1.5", "abc", "", null),
    );
    const eventId = fc.oneof(nastyString, fc.constant(null));
    const meta = fc.oneof(
      metaLike.map((m) => JSON.stringify(m)),
      fc.constantFrom(null, "not json", '"\\u0000"', '{"a": "\\u0000"}'),
    );
    const call = fc.oneof(
      fc.record({ fn: fc.constantFrom("redeem_ticket", "request_refund", "request_change"), ticketId, eventId, meta }),
      fc.record({
        fn: fc.constant("transition_ticket"),
        ticketId,
        eventId,
        meta,
        status: statuses,
        event: fc.oneof(nastyString, fc.constant(null)),
      }),
    );

    await fc.assert(
      fc.asyncProperty(call, async (c) => {
        const before = await fingerprint();
        const client = await db.pool.connect();
        let outcome: { ok: true; value: unknown } | { ok: false; code?: string; message: string };
        try {
          if (c.fn === "transition_ticket") {
            const t = c as typeof c & { status: string | null; event: string | null };
            const { rows } = await client.query(
              "select ticketing.transition_ticket($1::bigint, $2, $3, $4, $5::jsonb) as r",
              [t.ticketId, t.status, t.eventId, t.event, t.meta],
            );
            outcome = { ok: true, value: rows[0].r };
          } else {
            // The client functions run as the least-privilege role other services use.
            await client.query("set role ticketing_client");
            const { rows } = await client.query(`select ticketing.${c.fn}($1::bigint, $2, $3::jsonb) as r`, [
              c.ticketId,
              c.eventId,
              c.meta,
            ]);
            outcome = { ok: true, value: rows[0].r };
          }
        } catch (error) {
          const { code, message } = error as { code?: string; message: string };
          outcome = { ok: false, code, message };
        } finally {
          await client.query("reset role").catch(() => {});
          client.release();
        }
        if (outcome.ok) {
          assert.ok(
            ["applied", "duplicate", "queued"].includes(outcome.value as string),
            `unexpected answer ${outcome.value}`,
          );
        } else {
          assert.ok(
            REFUSALS.has(outcome.code ?? ""),
            `${c.fn}: undocumented error ${outcome.code}: ${outcome.message}`,
          );
          assert.deepEqual(await fingerprint(), before, `${c.fn} was refused (${outcome.code}) but wrote something`);
        }
      }),
      { numRuns: 500 },
    );
    assert.deepEqual(await bookkeepingViolations(db.pool), []);
  });
});
