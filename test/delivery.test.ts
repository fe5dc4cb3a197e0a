// The outbox dispatcher (src/delivery/): at-least-once delivery to NOTIFICATION_URL, nothing published
// before its 2xx, per-ticket order, signatures, the pg_notify sink, pruning, LISTEN reconnects, stop.
// Real PostgreSQL (each test its own database), real HTTP stand-ins.
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import http, { type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import pg from "pg";
import { loadEnv } from "../src/config/env.ts";
import { BEGIN_CLAIM_TRANSACTION, CLAIM_SQL } from "../src/delivery/claimEvents.ts";
import { type DispatcherOptions, startDispatcher } from "../src/delivery/dispatcher.ts";
import { LISTENER_APPLICATION_NAME } from "../src/delivery/outboxListener.ts";
import { createLogger } from "../src/logger.ts";
import { createMetrics } from "../src/observability/metrics.ts";
import { startTestDaemon, waitFor } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { createOrder, driveTo } from "./support/fixtures.ts";
import { startHttpStub } from "./support/httpStub.ts";

// The receiver's check, exactly as the README shows it.
function verifyTicketingSignature(
  secret: string,
  rawBody: string,
  timestampHeader: string | undefined,
  signatureHeader: string | undefined,
  toleranceSeconds = 300,
): boolean {
  if (!timestampHeader || !signatureHeader) return false;
  const timestamp = Number(timestampHeader);
  if (!Number.isInteger(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(
    `sha256=${createHmac("sha256", secret).update(`${timestampHeader}.${rawBody}`).digest("hex")}`,
  );
  const given = Buffer.from(signatureHeader);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const SECRET = "s3cret-signing-key-for-tests-0123456789";
/** Retries within tens of milliseconds instead of seconds. */
const FAST: DispatcherOptions = { backoffBaseMs: 20, backoffMaxMs: 200, pollIntervalMs: 1_000, gaugeIntervalMs: 100 };

/** A dispatcher of its own on `db`, logs captured; `env` as the daemon would read it. */
function dispatcher(db: TestDatabase, env: Record<string, string>, options: DispatcherOptions = FAST) {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  const parsedEnv = loadEnv({ LOG_LEVEL: "debug", ...env, DATABASE_URL: db.url });
  const metrics = createMetrics();
  const log = createLogger(parsedEnv.LOG_LEVEL, sink);
  const running = startDispatcher({ pool: db.pool, connectionString: db.url, env: parsedEnv, log, metrics }, options);
  return { ...running, logs, metrics };
}

async function withDatabase(body: (db: TestDatabase) => Promise<void>) {
  const db = await createTestDatabase();
  try {
    await body(db);
  } finally {
    await db.drop();
  }
}

interface Row {
  id: string;
  event_id: string;
  type: string;
  ticket_id: string | null;
  order_id: string | null;
  seq: string | null;
  payload: Record<string, unknown>;
  created_at: Date;
  published_at: Date | null;
  attempts: number;
  last_error: string | null;
}
const outbox = async (db: TestDatabase): Promise<Row[]> =>
  (await db.pool.query<Row>("select * from ticketing.outbox order by id")).rows;
const allPublished = async (db: TestDatabase) => {
  const rows = await outbox(db);
  return rows.length > 0 && rows.every((r) => r.published_at !== null) ? rows : undefined;
};
const num = (value: string | null) => (value === null ? null : Number(value));

/** `orders` orders of `tickets` tickets, each ticket changed and re-issued once: 3 events per ticket. */
async function changedTickets(db: TestDatabase, orders: number, tickets: number): Promise<number[]> {
  const ids: number[] = [];
  for (let o = 0; o < orders; o++) {
    const { ticketIds } = await createOrder(db.pool, tickets);
    for (const id of ticketIds) {
      await driveTo(db.pool, id, "changed");
      await db.pool.query(
        "select ticketing.transition_ticket($1, 'usable', 'reissue', null, '{\"valid_end\": \"2031-01-01T00:00:00Z\"}')",
        [id],
      );
      ids.push(id);
    }
  }
  return ids;
}

describe("delivery to NOTIFICATION_URL", () => {
  test("a failing sink: nothing is published before its 2xx, attempts and errors are kept; after recovery each event is delivered once", () =>
    withDatabase(async (db) => {
      let failing = true;
      const answers: Array<{ eventId: string; status: number; at: number }> = [];
      const stub = await startHttpStub((request) => {
        const status = failing ? 503 : 200;
        answers.push({ eventId: String((request.json as { event_id: string }).event_id), status, at: Date.now() });
        return { status, body: failing ? { error: "down for maintenance" } : {} };
      });
      await changedTickets(db, 3, 2);
      const running = dispatcher(db, { NOTIFICATION_URL: stub.url });
      try {
        await changedTickets(db, 2, 2); // events that arrive while the dispatcher runs
        const rows = await waitFor("every event to fail at least twice", async () => {
          const rows = await outbox(db);
          return rows.length === 30 &&
            rows.filter((r) => r.ticket_id !== null).every((r) => r.attempts >= 2 || r.seq !== "1")
            ? rows
            : undefined;
        });
        for (const row of rows) {
          assert.equal(row.published_at, null, `${row.event_id} published while the sink fails`);
          if (row.attempts > 0) assert.match(row.last_error ?? "", /^answered 503: .*down for maintenance/);
        }
        // Later events of a ticket wait behind its first one: never tried while it fails.
        assert.ok(rows.filter((r) => r.seq !== null && r.seq !== "1").every((r) => r.attempts === 0));
        assert.ok(answers.every((a) => a.status === 503));

        failing = false;
        const delivered = await waitFor("every event delivered", () => allPublished(db));
        const ok = answers.filter((a) => a.status === 200);
        assert.deepEqual(
          ok.map((a) => a.eventId).sort(),
          delivered.map((r) => r.event_id).sort(),
          "one 2xx per event, none lost",
        );
        for (const row of delivered) {
          const answer = ok.find((a) => a.eventId === row.event_id);
          assert.ok(
            answer && (row.published_at as Date).getTime() >= answer.at,
            `${row.event_id} published before its 2xx`,
          );
        }
        // The counter moves right after the round's commit, which the poll above may have seen first.
        await waitFor(
          "the delivered counter at 30",
          async () => (await running.metrics.eventsDelivered.get()).values[0]?.value === 30,
        );
        assert.ok(((await running.metrics.deliveryFailures.get()).values[0]?.value ?? 0) >= 20);

        const failure = running.logs.find((l) => l.msg === "event delivery failed; will retry");
        assert.ok(failure, "a failed delivery is logged");
        assert.equal(typeof failure.eventId, "string");
        assert.equal(typeof failure.ticketId, "string");
        assert.equal(typeof failure.attempts, "number");
        assert.match(String(failure.error), /answered 503/);
      } finally {
        await running.stop();
        await stub.close();
      }
    }));

  test("no answer within HTTP_TIMEOUT_MS is a failure, retried like any other", () =>
    withDatabase(async (db) => {
      let slow = true;
      const stub = await startHttpStub(() => ({ status: 200, delayMs: slow ? 1_000 : 0 }));
      const { ticketIds } = await createOrder(db.pool, 1);
      await driveTo(db.pool, ticketIds[0] as number, "refunded");
      const running = dispatcher(db, { NOTIFICATION_URL: stub.url, HTTP_TIMEOUT_MS: "150" });
      try {
        const timedOut = await waitFor("a timed-out attempt recorded", async () => {
          const rows = await outbox(db);
          return rows.every((r) => r.attempts > 0) ? rows : undefined;
        });
        for (const row of timedOut) {
          assert.equal(row.published_at, null);
          assert.equal(row.last_error, "no answer within 150 ms");
        }
        slow = false;
        await waitFor("delivered once the sink answers in time", () => allPublished(db));
      } finally {
        await running.stop();
        await stub.close();
      }
    }));

  test("a connection cut before the answer is complete is a failure: not published, retried", () =>
    withDatabase(async (db) => {
      // A 200 whose body never ends: the first two requests get half an answer, then the socket is cut.
      let requests = 0;
      const server = http.createServer((req, res) => {
        requests += 1;
        req.resume();
        req.on("end", () => {
          if (requests > 2) return void res.writeHead(200).end();
          res.writeHead(200, { "content-length": "100" });
          res.write("half an answer", () => req.socket.destroy());
        });
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { ticketIds } = await createOrder(db.pool, 1);
      await driveTo(db.pool, ticketIds[0] as number, "used");
      const running = dispatcher(db, {
        NOTIFICATION_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
      });
      try {
        const rows = await waitFor("events delivered after the cut answers", () => allPublished(db));
        const cut = rows.filter((r) => r.attempts > 0);
        assert.ok(cut.length >= 1, "the cut attempts count as failures");
        for (const row of cut) assert.match(row.last_error ?? "", /^UND_ERR_SOCKET: /);
        assert.equal(requests, rows.length + 2, "each cut attempt was sent again");
      } finally {
        await running.stop();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    }));

  test("body and headers: the event as JSON, its event_id as idempotency key, no signature without a secret", () =>
    withDatabase(async (db) => {
      const stub = await startHttpStub(() => ({ status: 204 }));
      const { orderId, ticketIds } = await createOrder(db.pool, 1);
      const ticketId = ticketIds[0] as number;
      await driveTo(db.pool, ticketId, "used");
      const running = dispatcher(db, { NOTIFICATION_URL: stub.url });
      try {
        const rows = await waitFor("events delivered", () => allPublished(db));
        assert.deepEqual(
          rows.map((r) => r.type),
          ["ticket.used", "order.completed"],
        );
        const ticketEvent = rows[0] as Row;
        const request = stub.requests.find((r) => (r.json as { event_id: string }).event_id === ticketEvent.event_id);
        assert.ok(request);
        assert.equal(request.method, "POST");
        assert.equal(request.headers["content-type"], "application/json");
        assert.equal(request.headers["idempotency-key"], ticketEvent.event_id);
        assert.equal(request.headers["x-ticketing-event-id"], ticketEvent.event_id);
        assert.equal(request.headers["x-ticketing-signature"], undefined);
        const { occurred_at: occurredAt, ...rest } = request.json as { occurred_at: string };
        assert.deepEqual(rest, {
          event_id: ticketEvent.event_id,
          type: "ticket.used",
          ticket_id: ticketId,
          order_id: orderId,
          seq: 1,
          payload: ticketEvent.payload,
        });
        assert.match(occurredAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, "UTC, microseconds");
        assert.equal(
          new Date(occurredAt).getTime(),
          ticketEvent.created_at.getTime(),
          "occurred_at is the event's created_at",
        );
        const orderEvent = stub.requests.find((r) => (r.json as { type: string }).type === "order.completed")
          ?.json as Record<string, unknown>;
        assert.deepEqual(
          {
            event_id: orderEvent.event_id,
            ticket_id: orderEvent.ticket_id,
            order_id: orderEvent.order_id,
            seq: orderEvent.seq,
          },
          { event_id: `order:${orderId}:completed`, ticket_id: null, order_id: orderId, seq: null },
        );
      } finally {
        await running.stop();
        await stub.close();
      }
    }));

  test("the URL's path, query and credentials are used; a redirect is a failure, not followed", () =>
    withDatabase(async (db) => {
      const stub = await startHttpStub((_request, index) =>
        index === 0 ? { status: 302, body: "moved" } : { status: 204 },
      );
      const { ticketIds } = await createOrder(db.pool, 1);
      await driveTo(db.pool, ticketIds[0] as number, "refunded");
      const url = new URL(stub.url);
      url.username = "hook";
      url.password = "p@ss word";
      url.pathname = "/in/ticketing";
      url.search = "?token=abc";
      const running = dispatcher(db, { NOTIFICATION_URL: url.toString() });
      try {
        const rows = await waitFor("events delivered", () => allPublished(db));
        const redirected = rows.find((r) => r.attempts > 0);
        assert.ok(redirected, "the redirected attempt counts as a failure");
        assert.equal(redirected.last_error, "answered 302: moved");
        assert.equal(
          stub.requests.length,
          rows.length + 1,
          "the redirect was not followed: one more request than events",
        );
        for (const request of stub.requests) {
          assert.equal(request.url, "/in/ticketing?token=abc");
          assert.equal(request.headers.authorization, `Basic ${Buffer.from("hook:p@ss word").toString("base64")}`);
        }
        assert.ok(!JSON.stringify(running.logs).includes("p%40ss"), "the URL's credentials are never logged");
      } finally {
        await running.stop();
        await stub.close();
      }
    }));

  test("with NOTIFICATION_SECRET every request is signed; the README's check accepts it and rejects tampering", () =>
    withDatabase(async (db) => {
      const stub = await startHttpStub((_request, index) => ({ status: index < 2 ? 500 : 200 }));
      await changedTickets(db, 1, 3);
      const running = dispatcher(db, { NOTIFICATION_URL: stub.url, NOTIFICATION_SECRET: SECRET });
      try {
        await waitFor("events delivered", () => allPublished(db));
        const header = (headers: IncomingHttpHeaders, name: string) => headers[name] as string | undefined;
        assert.ok(stub.requests.length >= 9 + 2);
        for (const request of stub.requests) {
          const timestamp = header(request.headers, "x-ticketing-timestamp");
          const signature = header(request.headers, "x-ticketing-signature");
          assert.match(signature ?? "", /^sha256=[0-9a-f]{64}$/);
          assert.ok(verifyTicketingSignature(SECRET, request.body, timestamp, signature), "signature verifies");
          assert.ok(
            !verifyTicketingSignature(SECRET, request.body.replace("ticket", "tickets"), timestamp, signature),
            "a changed body fails",
          );
          assert.ok(
            !verifyTicketingSignature(`${SECRET}x`, request.body, timestamp, signature),
            "another secret fails",
          );
          assert.ok(
            !verifyTicketingSignature(SECRET, request.body, String(Number(timestamp) - 1), signature),
            "another timestamp fails",
          );
          assert.ok(!verifyTicketingSignature(SECRET, request.body, timestamp, undefined), "no signature fails");
        }
        const old = String(Math.floor(Date.now() / 1000) - 3600);
        const oldSignature = `sha256=${createHmac("sha256", SECRET).update(`${old}.{}`).digest("hex")}`;
        assert.ok(!verifyTicketingSignature(SECRET, "{}", old, oldSignature), "a replay an hour later fails");
        assert.ok(!JSON.stringify(running.logs).includes(SECRET), "the secret is never logged");
      } finally {
        await running.stop();
        await stub.close();
      }
    }));

  test("one ticket's events arrive in seq order, even with failures and many in flight", () =>
    withDatabase(async (db) => {
      const acked = new Map<string, number>();
      const violations: string[] = [];
      const stub = await startHttpStub((request, index) => {
        const event = request.json as { ticket_id: number | null; seq: number | null; event_id: string };
        if (event.ticket_id === null) return { status: 200 };
        const key = String(event.ticket_id);
        const last = acked.get(key) ?? 0;
        if (event.seq !== last + 1) violations.push(`${event.event_id} arrived after seq ${last} was acknowledged`);
        // Every fourth request fails; the answers take 0-4 ms, so requests finish out of order.
        const fail = index % 4 === 0;
        if (!fail) acked.set(key, Math.max(last, event.seq ?? 0));
        return { status: fail ? 503 : 200, delayMs: index % 5 };
      });
      const ticketIds: number[] = [];
      const running = dispatcher(db, { NOTIFICATION_URL: stub.url }, { ...FAST, batchSize: 40, concurrency: 16 });
      try {
        // Seven transitions per ticket, interleaved across tickets, while the dispatcher runs.
        for (let o = 0; o < 10; o++) ticketIds.push(...(await createOrder(db.pool, 3)).ticketIds);
        const steps = ["changing", "changed", "usable", "changing", "changed", "usable", "used"];
        for (const [s, step] of steps.entries()) {
          await Promise.all(
            ticketIds.map((id) =>
              db.pool.query("select ticketing.transition_ticket($1, $2, $3, null, $4)", [
                id,
                step,
                `step-${s}`,
                step === "usable" ? { valid_end: "2031-01-01T00:00:00Z" } : {},
              ]),
            ),
          );
        }
        await waitFor("every event delivered", async () => {
          const rows = await allPublished(db);
          return rows && rows.length === ticketIds.length * 7 + 10 ? rows : undefined;
        });
        assert.deepEqual(violations, []);
        for (const id of ticketIds) assert.equal(acked.get(String(id)), 7, `ticket ${id}`);
        const received = stub.requests.map((r) => r.json as { ticket_id: number | null; seq: number });
        for (const id of ticketIds) {
          const seqs = received.filter((e) => e.ticket_id === id).map((e) => e.seq);
          assert.deepEqual([...new Set(seqs)], [1, 2, 3, 4, 5, 6, 7], `ticket ${id} received in order`);
        }
      } finally {
        await running.stop();
        await stub.close();
      }
    }));
});

describe("lingering", () => {
  test("events committed one by one share rounds: a trickle costs a few claims, not one per event", () =>
    withDatabase(async (db) => {
      const stub = await startHttpStub(() => ({ status: 204 }));
      const running = dispatcher(db, { NOTIFICATION_URL: stub.url }, { ...FAST, lingerMs: 250 });
      try {
        // Started: both lanes ran their first (empty) round and the LISTEN connection is up.
        await waitFor("the dispatcher idle and listening", async () => {
          const { rows } = await db.pool.query(
            "select 1 from pg_stat_activity where datname = $1 and application_name = $2 and query ilike 'listen%'",
            [db.name, LISTENER_APPLICATION_NAME],
          );
          return rows.length === 1 && running.rounds() >= 2;
        });
        const before = running.rounds();
        // 100 events, each committed alone (one notification each), as jobs commit them. Commits that wait
        // for no disk flush arrive in a steady trickle even on a loaded machine, so the bound below holds.
        const count = 100;
        const writer = await db.pool.connect();
        const insertStartedAt = Date.now();
        try {
          await writer.query("set synchronous_commit = off");
          for (let i = 1; i <= count; i++) {
            await writer.query(
              "insert into ticketing.outbox (event_id, type, ticket_id, seq, payload) values ($1, 'ticket.used', $2, 1, '{}')",
              [`trickle:${i}`, 1_000 + i],
            );
          }
        } finally {
          // Closed, not returned to the pool: no other query of the test runs with the setting.
          writer.release(true);
        }
        const insertMs = Date.now() - insertStartedAt;
        const rows = await waitFor("every event delivered", async () => {
          const rows = await allPublished(db);
          return rows && rows.length === count ? rows : undefined;
        });
        const rounds = running.rounds() - before;
        // Without lingering each notification is a claim of its own (about one per event); with it, each
        // claim takes what arrived during the last 250 ms.
        assert.ok(rounds <= count / 4, `${rounds} rounds for ${count} events committed in ${insertMs} ms`);
        assert.deepEqual(
          stub.requests.map((r) => (r.json as { event_id: string }).event_id).sort(),
          rows.map((r) => r.event_id).sort(),
          "one request per event",
        );
      } finally {
        await running.stop();
        await stub.close();
      }
    }));
});

describe("the claim's plan", () => {
  interface PlanNode {
    "Node Type": string;
    "Relation Name"?: string;
    "Index Name"?: string;
    "Index Cond"?: string;
    "Parent Relationship"?: string;
    Plans?: PlanNode[];
  }
  /** Every node that reads ticketing.outbox, with whether it sits inside a correlated subquery. */
  const outboxScans = (node: PlanNode, inSubPlan = false): Array<PlanNode & { inSubPlan: boolean }> => {
    const here = inSubPlan || node["Parent Relationship"] === "SubPlan";
    const own = node["Relation Name"] === "outbox" ? [{ ...node, inSubPlan: here }] : [];
    return [...own, ...(node.Plans ?? []).flatMap((child) => outboxScans(child, here))];
  };
  /** The scan follows outbox_undelivered_idx; both sibling checks are lookups by ticket_id on outbox_ticket_undelivered_idx. */
  const assertIndexLookups = (plan: PlanNode, state: string) => {
    const scans = outboxScans(plan);
    const outer = scans.filter((s) => !s.inSubPlan);
    const lookups = scans.filter((s) => s.inSubPlan);
    assert.deepEqual(
      outer.map((s) => [s["Node Type"], s["Index Name"]]),
      [["Index Scan", "outbox_undelivered_idx"]],
      `${state}: the due scan walks outbox_undelivered_idx in order`,
    );
    assert.equal(lookups.length, 2, `${state}: two sibling checks`);
    for (const lookup of lookups) {
      assert.match(lookup["Node Type"], /^Index (Only )?Scan$/, `${state}: ${JSON.stringify(lookup)}`);
      assert.equal(lookup["Index Name"], "outbox_ticket_undelivered_idx", state);
      assert.match(lookup["Index Cond"] ?? "", /^\(?\(?ticket_id = /, `${state}: a lookup by ticket, not a walk`);
    }
  };
  /** Three events per ticket, all due: `count` rows, none analyzed. */
  const insertUndelivered = (db: TestDatabase, count: number) =>
    db.pool.query(
      `insert into ticketing.outbox (event_id, type, ticket_id, order_id, seq, payload)
       select format('plan:%s', g), 'ticket.expired', (g - 1) / 3 + 1, (g - 1) / 12 + 1, (g - 1) % 3 + 1, '{}'::jsonb
         from generate_series(1, $1::int) g`,
      [count],
    );

  const planOf = (result: pg.QueryResult<{ "QUERY PLAN": Array<{ Plan: PlanNode }> }>): PlanNode => {
    const plan = result.rows[0]?.["QUERY PLAN"][0]?.Plan;
    assert.ok(plan, "EXPLAIN returned a plan");
    return plan;
  };
  const explainBoth = async (db: TestDatabase, state: string) => {
    const client = await db.pool.connect();
    try {
      await client.query(BEGIN_CLAIM_TRANSACTION);
      const custom = await client.query<{ "QUERY PLAN": Array<{ Plan: PlanNode }> }>(
        `explain (format json) ${CLAIM_SQL}`,
        [500, true],
      );
      assertIndexLookups(planOf(custom), `${state}, custom plan`);
      await client.query("set local plan_cache_mode = force_generic_plan");
      await client.query(`prepare claim_generic(int, boolean) as ${CLAIM_SQL}`);
      const generic = await client.query<{ "QUERY PLAN": Array<{ Plan: PlanNode }> }>(
        "explain (format json) execute claim_generic(500, true)",
      );
      assertIndexLookups(planOf(generic), `${state}, generic plan`);
      await client.query("deallocate claim_generic");
      // And it runs in bounded time: the old plans took 2-30 s per claim here, minutes with a 1M backlog.
      await client.query("set local statement_timeout = '10s'");
      const claimed = await client.query<{ id: string }>(CLAIM_SQL, [500, true]);
      const first = await client.query<{ id: string }>(
        "select id from ticketing.outbox where published_at is null order by id limit 500",
      );
      assert.deepEqual(
        claimed.rows.map((r) => r.id),
        first.rows.map((r) => r.id),
        `${state}: the 500 earliest events, whole tickets first`,
      );
    } finally {
      await client.query("rollback");
      client.release();
    }
  };

  test("index lookups whatever the statistics say: never analyzed, or analyzed while nothing was undelivered", () =>
    withDatabase(async (db) => {
      // Autovacuum must not fix the statistics mid-test: the point is the plan under stale ones.
      await db.pool.query("alter table ticketing.outbox set (autovacuum_enabled = false)");
      const { rows } = await db.pool.query<{ reltuples: number }>(
        "select reltuples from pg_class where oid = 'ticketing.outbox'::regclass",
      );
      assert.equal(rows[0]?.reltuples, -1, "the outbox starts never analyzed");
      await insertUndelivered(db, 200_000);
      await explainBoth(db, "never analyzed");

      // The usual state after a drain: the last analyze saw only delivered events (here three order
      // events), so the planner believes both partial indexes are empty; then a burst arrives.
      await db.pool.query("delete from ticketing.outbox");
      await db.pool.query(
        `insert into ticketing.outbox (event_id, type, order_id, payload, published_at)
         select format('drained:%s', g), 'order.completed', g, '{}'::jsonb, now() from generate_series(1, 3) g`,
      );
      await db.pool.query("analyze ticketing.outbox");
      await insertUndelivered(db, 200_000);
      await explainBoth(db, "analyzed while drained");
    }));
});

describe("without NOTIFICATION_URL", () => {
  test("a LISTEN client on ticketing_events hears every event, one ticket's in order, and the rows are published", () =>
    withDatabase(async (db) => {
      const listener = new pg.Client({ connectionString: db.url });
      await listener.connect();
      const heard: Array<Record<string, unknown>> = [];
      listener.on("notification", (message) => heard.push(JSON.parse(message.payload ?? "null")));
      await listener.query("listen ticketing_events");
      const running = dispatcher(db, {});
      try {
        const ticketIds = await changedTickets(db, 2, 3);
        const rows = await waitFor("events published", async () => {
          const rows = await allPublished(db);
          return rows && rows.length === 18 ? rows : undefined;
        });
        await waitFor("every notification", async () => heard.length >= rows.length);
        assert.deepEqual(
          [...heard].sort((a, b) => String(a.event_id).localeCompare(String(b.event_id))),
          rows
            .map((r) => ({
              event_id: r.event_id,
              type: r.type,
              ticket_id: num(r.ticket_id),
              order_id: num(r.order_id),
              seq: num(r.seq),
            }))
            .sort((a, b) => a.event_id.localeCompare(b.event_id)),
        );
        for (const id of ticketIds) {
          assert.deepEqual(
            heard.filter((n) => n.ticket_id === id).map((n) => n.seq),
            [1, 2, 3],
          );
        }
        assert.equal((await running.metrics.eventsDelivered.get()).values[0]?.value, 18);
      } finally {
        await running.stop();
        await listener.end();
      }
    }));
});

describe("pruning", () => {
  test("deletes delivered events older than OUTBOX_RETENTION_HOURS, in chunks; never undelivered ones", () =>
    withDatabase(async (db) => {
      await db.pool.query(
        `insert into ticketing.outbox (event_id, type, payload, created_at, published_at, next_attempt_at)
         select 'old-delivered-' || i, 'test', '{}'::jsonb, now() - interval '3 hours', now() - interval '2 hours', now() from generate_series(1, 7) i
         union all
         select 'recent-delivered-' || i, 'test', '{}', now() - interval '3 hours', now() - interval '50 minutes', now() from generate_series(1, 2) i
         union all
         select 'old-undelivered-' || i, 'test', '{}', now() - interval '30 days', null, now() + interval '1 day' from generate_series(1, 3) i`,
      );
      const running = dispatcher(db, { OUTBOX_RETENTION_HOURS: "1" }, { ...FAST, pruneChunk: 3 });
      try {
        await waitFor(
          "old delivered events pruned",
          async () => !(await outbox(db)).some((r) => r.event_id.startsWith("old-delivered")),
        );
        const left = (await outbox(db)).map((r) => r.event_id).sort();
        assert.deepEqual(left, [
          "old-undelivered-1",
          "old-undelivered-2",
          "old-undelivered-3",
          "recent-delivered-1",
          "recent-delivered-2",
        ]);
        assert.ok(running.logs.some((l) => l.msg === "pruned delivered outbox events" && l.deleted === 7));
        await waitFor("backlog gauges", async () => (await running.metrics.outboxBacklog.get()).values[0]?.value === 3);
        assert.ok(((await running.metrics.outboxOldestAge.get()).values[0]?.value ?? 0) >= 30 * 86400 - 60);
      } finally {
        await running.stop();
      }
    }));
});

describe("resilience", () => {
  const listenerBackends = async (db: TestDatabase) =>
    (
      await db.pool.query<{ pid: number }>(
        "select pid from pg_stat_activity where datname = $1 and application_name = $2",
        [db.name, LISTENER_APPLICATION_NAME],
      )
    ).rows.map((r) => r.pid);

  test("the LISTEN connection comes back after the database drops it, and notifications wake the loop again", () =>
    withDatabase(async (db) => {
      const stub = await startHttpStub(() => ({ status: 200 }));
      // A poll of a minute: delivery within the test's deadline can only come from a notification.
      const running = dispatcher(db, { NOTIFICATION_URL: stub.url }, { ...FAST, pollIntervalMs: 60_000 });
      try {
        const [first] = await waitFor("LISTEN connection", async () =>
          (await listenerBackends(db)).length === 1 ? listenerBackends(db) : undefined,
        );
        await db.pool.query("select pg_terminate_backend($1)", [first]);
        const [second] = await waitFor("LISTEN connection again", async () => {
          const pids = await listenerBackends(db);
          return pids.length === 1 && pids[0] !== first ? pids : undefined;
        });
        assert.notEqual(second, first);
        assert.ok(running.logs.some((l) => l.msg === "outbox LISTEN connection lost; reconnecting"));
        await waitFor("reconnect settled", async () =>
          running.logs.some((l) => l.msg === "outbox LISTEN connection restored"),
        );
        const { ticketIds } = await createOrder(db.pool, 2);
        await driveTo(db.pool, ticketIds[0] as number, "used");
        await waitFor("event delivered on notification", () => allPublished(db), 20_000);
      } finally {
        await running.stop();
        await stub.close();
      }
    }));

  test("stop lets requests in flight finish and records them, leaves the untried events queued, and closes the LISTEN connection", () =>
    withDatabase(async (db) => {
      const stub = await startHttpStub(() => ({ status: 200, delayMs: 300 }));
      for (let i = 0; i < 10; i++)
        await driveTo(db.pool, (await createOrder(db.pool, 1)).ticketIds[0] as number, "refunded");
      const running = dispatcher(db, { NOTIFICATION_URL: stub.url }, { ...FAST, concurrency: 4, lanes: 1 });
      await waitFor("four requests in flight", async () => stub.requests.length >= 4);
      await running.stop();
      const rows = await outbox(db);
      const published = rows.filter((r) => r.published_at !== null).map((r) => r.event_id);
      assert.deepEqual(
        published.sort(),
        stub.requests.map((r) => (r.json as { event_id: string }).event_id).sort(),
        "exactly the answered events are published",
      );
      assert.equal(published.length, 4);
      assert.ok(
        rows.every((r) => r.published_at !== null || r.attempts === 0),
        "untried events are not counted as failures",
      );
      const locked = await db.pool.query("select id from ticketing.outbox for update nowait");
      assert.equal(locked.rowCount, rows.length, "no row stays locked");
      assert.deepEqual(await listenerBackends(db), []);
      await stub.close();
    }));
});

describe("in the daemon", () => {
  test("ticket-lifecycle run delivers expiry events signed, retries a failing sink and never logs the secret", () =>
    withDatabase(async (db) => {
      const stub = await startHttpStub((_request, index) => ({ status: index < 3 ? 503 : 200 }));
      const daemon = await startTestDaemon(db, { NOTIFICATION_URL: stub.url, NOTIFICATION_SECRET: SECRET });
      try {
        const { ticketIds } = await createOrder(db.pool, 3, "now() - interval '1 minute'");
        await db.pool.query("select graphile_worker.add_job('expire_tickets', '{}'::json)");
        const rows = await waitFor("expiry events delivered", async () => {
          const rows = await allPublished(db);
          return rows && rows.length === 4 ? rows : undefined;
        });
        assert.deepEqual(rows.map((r) => r.type).sort(), [
          "order.completed",
          "ticket.expired",
          "ticket.expired",
          "ticket.expired",
        ]);
        assert.deepEqual(
          rows
            .filter((r) => r.ticket_id !== null)
            .map((r) => Number(r.ticket_id))
            .sort(),
          [...ticketIds].sort(),
        );
        for (const request of stub.requests) {
          const { headers } = request;
          assert.ok(
            verifyTicketingSignature(
              SECRET,
              request.body,
              headers["x-ticketing-timestamp"] as string,
              headers["x-ticketing-signature"] as string,
            ),
          );
        }
        assert.ok(
          rows.some((r) => r.attempts > 0),
          "the 503s were retried",
        );
        const failures = daemon.logs.filter((l) => l.msg === "event delivery failed; will retry");
        assert.equal(failures.length, 3);
        for (const failure of failures)
          assert.ok(failure.eventId && failure.attempts === 1 && String(failure.error).includes("503"));
        assert.ok(!JSON.stringify(daemon.logs).includes(SECRET), "the secret is never logged");
        const metrics = await daemon.metrics.registry.metrics();
        assert.match(metrics, /^events_delivered_total 4$/m);
        assert.match(metrics, /^event_delivery_failures_total 3$/m);
      } finally {
        await daemon.stop();
        await stub.close();
      }
      const left = await db.pool.query(
        "select count(*)::int as n from pg_stat_activity where datname = $1 and application_name = $2",
        [db.name, LISTENER_APPLICATION_NAME],
      );
      assert.equal(left.rows[0].n, 0, "the daemon's stop closed the LISTEN connection");
    }));
});
