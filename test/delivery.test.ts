// The outbox dispatcher (src/delivery/): at-least-once delivery to NOTIFICATION_URL, nothing published
// before its 2xx, per-ticket order, CloudEvents signed per Standard Webhooks (checked with the official
// SDKs, as a receiver would), Retry-After, 410, poison isolation, the pg_notify sink, pruning, LISTEN
// reconnects, stop. Real PostgreSQL (each test its own database), real HTTP stand-ins.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http, { type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { type CloudEvent, HTTP } from "cloudevents";
import pg from "pg";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { loadEnv } from "../src/config/env.ts";
import { type DispatcherOptions, startDispatcher } from "../src/delivery/dispatcher.ts";
import { retryAfterMs } from "../src/delivery/httpSink.ts";
import { LISTENER_APPLICATION_NAME } from "../src/delivery/outboxListener.ts";
import { createLogger } from "../src/logger.ts";
import { createMetrics } from "../src/observability/metrics.ts";
import { startTestDaemon, waitFor } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { asEngine } from "./support/engine.ts";
import { createOrder, driveTo } from "./support/fixtures.ts";
import { type StubRequest, startHttpStub } from "./support/httpStub.ts";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
/**
 * The README's receiver example, run as written: its code block under "Receiving" with its two imports
 * bound to the packages, `secret`, `body` and `headers` in scope, and the `event` it makes returned.
 */
function readmeReceiver(): (secret: string, body: string, headers: IncomingHttpHeaders) => CloudEvent {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const block = /\*\*Receiving\.\*\*[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, "the README has a receiver example");
  const imports = block.split("\n").filter((line) => line.startsWith("import "));
  assert.deepEqual(imports, ['import { HTTP } from "cloudevents";', 'import { Webhook } from "standardwebhooks";']);
  const code = block
    .split("\n")
    .filter((line) => !line.startsWith("import "))
    .join("\n");
  const run = new Function("Webhook", "HTTP", "secret", "body", "headers", `${code}\nreturn event;`);
  return (secret, body, headers) => run(Webhook, HTTP, secret, body, headers) as CloudEvent;
}

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
/** Node's request headers as the Standard Webhooks SDK types them (it reads the three it needs). */
const headersOf = (request: StubRequest) => request.headers as Record<string, string>;

/** A delivery's body: a CloudEvent in structured mode. */
interface CloudEventBody {
  specversion: string;
  id: string;
  source: string;
  type: string;
  time: string;
  subject?: string;
  sequence?: string;
  datacontenttype?: string;
  data?: Record<string, unknown>;
  dataomitted?: boolean;
}
const cloudEvent = (request: StubRequest) => request.json as CloudEventBody;
/** The ticket a CloudEvent is about (its subject ticket/<id>), or null. */
const ticketOf = (event: CloudEventBody) =>
  event.subject?.startsWith("ticket/") ? Number(event.subject.slice("ticket/".length)) : null;

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
        answers.push({ eventId: cloudEvent(request).id, status, at: Date.now() });
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
        for (const row of cut) assert.equal(row.last_error, "connection closed (UND_ERR_SOCKET)");
        assert.equal(requests, rows.length + 2, "each cut attempt was sent again");
      } finally {
        await running.stop();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    }));

  test("a refused connection is recorded as what failed, never where: no host or port in last_error or the logs", () =>
    withDatabase(async (db) => {
      // A port nothing listens on: taken, then given back.
      const probe = http.createServer();
      await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
      const port = (probe.address() as AddressInfo).port;
      await new Promise((resolve) => probe.close(resolve));
      const { ticketIds } = await createOrder(db.pool, 1);
      await driveTo(db.pool, ticketIds[0] as number, "used");
      const running = dispatcher(db, { NOTIFICATION_URL: `http://127.0.0.1:${port}/hook` });
      try {
        const failed = await waitFor("a refused attempt recorded", async () => {
          const rows = await outbox(db);
          return rows.length > 0 && rows.every((r) => r.attempts > 0) ? rows : undefined;
        });
        for (const row of failed) {
          assert.equal(row.published_at, null);
          assert.equal(row.last_error, "connection refused (ECONNREFUSED)");
        }
        const address = new RegExp(`127\\.0\\.0\\.1|:${port}\\b`);
        const logged = running.logs.filter((l) => l.msg === "event delivery failed; will retry");
        assert.ok(logged.length > 0);
        for (const line of logged) assert.doesNotMatch(String(line.error), address);
        assert.doesNotMatch(failed.map((r) => r.last_error).join(" "), address);
      } finally {
        await running.stop();
      }
    }));

  test("body and headers: a CloudEvent in structured mode, webhook-id the event id, unsigned without a secret", () =>
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
        const request = stub.requests.find((r) => cloudEvent(r).id === ticketEvent.event_id);
        assert.ok(request);
        assert.equal(request.method, "POST");
        assert.equal(request.headers["content-type"], "application/cloudevents+json");
        assert.equal(request.headers["webhook-id"], ticketEvent.event_id);
        assert.match(String(request.headers["webhook-timestamp"]), /^\d{10}$/);
        assert.equal(request.headers["webhook-signature"], undefined);
        assert.equal(request.headers["idempotency-key"], ticketEvent.event_id);
        assert.deepEqual(
          Object.keys(request.headers).filter((name) => name.startsWith("x-ticketing")),
          [],
          "the old headers are gone",
        );
        const { time, ...rest } = cloudEvent(request);
        assert.deepEqual(rest, {
          specversion: "1.0",
          id: ticketEvent.event_id,
          source: "/ticket-lifecycle-daemon",
          type: "ticket.used",
          subject: `ticket/${ticketId}`,
          sequence: "0000000000000000001",
          datacontenttype: "application/json",
          data: ticketEvent.payload,
        });
        assert.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, "RFC 3339, UTC, microseconds");
        assert.equal(new Date(time).getTime(), ticketEvent.created_at.getTime(), "time is the event's created_at");
        const orderEvent = stub.requests.map(cloudEvent).find((e) => e.type === "order.completed");
        assert.deepEqual(
          { id: orderEvent?.id, subject: orderEvent?.subject, sequence: orderEvent?.sequence },
          { id: `order:${orderId}:completed`, subject: `order/${orderId}`, sequence: undefined },
        );
        for (const delivered of stub.requests) {
          const event = HTTP.toEvent({ headers: delivered.headers, body: delivered.body }) as CloudEvent;
          assert.ok(event.validate(), "the cloudevents SDK accepts it");
          assert.equal(event.id, cloudEvent(delivered).id);
        }
      } finally {
        await running.stop();
        await stub.close();
      }
    }));

  test("64-bit ids keep every digit in the subject and the data; CLOUDEVENTS_SOURCE names the source", () =>
    withDatabase(async (db) => {
      const stub = await startHttpStub(() => ({ status: 204 }));
      const orderId = "9007199254740995";
      const ticketId = "9007199254740993";
      await db.pool.query("insert into ticketing.orders (id) values ($1)", [orderId]);
      await db.pool.query(
        "insert into ticketing.tickets (id, order_id, valid_end) values ($1, $2, now() + interval '1 day')",
        [ticketId, orderId],
      );
      await db.pool.query("select ticketing.redeem_ticket($1, 'gate-1')", [ticketId]);
      const running = dispatcher(db, {
        NOTIFICATION_URL: stub.url,
        CLOUDEVENTS_SOURCE: "https://tickets.example/lifecycle",
      });
      try {
        await waitFor("events delivered", () => allPublished(db));
        const ticketEvent = stub.requests.find((r) => cloudEvent(r).type === "ticket.used");
        assert.ok(ticketEvent);
        assert.ok(ticketEvent.body.includes(`"subject":"ticket/${ticketId}"`), ticketEvent.body);
        assert.ok(ticketEvent.body.includes(`"ticket_id": ${ticketId}`), "the raw body carries the exact id");
        assert.ok(ticketEvent.body.includes(`"order_id": ${orderId}`));
        assert.ok(stub.requests.every((r) => cloudEvent(r).source === "https://tickets.example/lifecycle"));
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

  test("signed per Standard Webhooks: the official SDK verifies every delivery and rejects a tampered body, another secret and a stale timestamp; a retry keeps its webhook-id and is signed afresh", () =>
    withDatabase(async (db) => {
      // Each event's first attempt is answered 503 with Retry-After: 1, so its retry comes at least a
      // second later, in another second of webhook-timestamp.
      const firstAt = new Map<string, number>();
      const retryDelays: number[] = [];
      const stub = await startHttpStub((request) => {
        const id = cloudEvent(request).id;
        const first = firstAt.get(id);
        if (first !== undefined) {
          retryDelays.push(Date.now() - first);
          return { status: 200 };
        }
        firstAt.set(id, Date.now());
        return { status: 503, headers: { "retry-after": "1" } };
      });
      await changedTickets(db, 1, 2);
      // Retry-After is bounded by backoffMaxMs: 5 s lets the second stand.
      const running = dispatcher(
        db,
        { NOTIFICATION_URL: stub.url, NOTIFICATION_SECRET: SECRET },
        { ...FAST, backoffMaxMs: 5_000 },
      );
      try {
        const rows = await waitFor("events delivered", () => allPublished(db));
        const webhook = new Webhook(SECRET);
        const other = new Webhook(`whsec_${randomBytes(32).toString("base64")}`);
        assert.equal(stub.requests.length, rows.length * 2, "each event failed once, then was delivered");
        for (const request of stub.requests) {
          assert.match(String(request.headers["webhook-signature"]), /^v1,[A-Za-z0-9+/]{43}=$/);
          assert.doesNotThrow(() => webhook.verify(request.body, headersOf(request)), "the delivery verifies");
          assert.throws(
            () => webhook.verify(request.body.replace('"ticket', '"tickets'), headersOf(request)),
            WebhookVerificationError,
            "a tampered body is rejected",
          );
          assert.throws(() => other.verify(request.body, headersOf(request)), WebhookVerificationError);
          // The same delivery as if captured and replayed six minutes later, signed correctly for its time.
          const id = String(request.headers["webhook-id"]);
          const staleAt = new Date(Date.now() - 6 * 60_000);
          const stale = {
            "webhook-id": id,
            "webhook-timestamp": String(Math.floor(staleAt.getTime() / 1000)),
            "webhook-signature": webhook.sign(id, staleAt, request.body),
          };
          assert.throws(() => webhook.verify(request.body, stale), /too old/, "a stale timestamp is rejected");
        }
        for (const row of rows) {
          const attempts = stub.requests.filter((r) => cloudEvent(r).id === row.event_id);
          assert.equal(attempts.length, 2, row.event_id);
          const [first, retry] = attempts as [StubRequest, StubRequest];
          assert.equal(retry.headers["webhook-id"], row.event_id, "the same webhook-id on the retry");
          assert.equal(first.headers["webhook-id"], row.event_id);
          assert.equal(retry.body, first.body, "the same event");
          assert.ok(Number(retry.headers["webhook-timestamp"]) > Number(first.headers["webhook-timestamp"]));
          assert.notEqual(retry.headers["webhook-signature"], first.headers["webhook-signature"]);
        }
        assert.ok(
          retryDelays.every((ms) => ms >= 1_000),
          `Retry-After honoured: retries came ${retryDelays.join(", ")} ms after the first attempt`,
        );
        assert.ok(!JSON.stringify(running.logs).includes(SECRET), "the secret is never logged");
      } finally {
        await running.stop();
        await stub.close();
      }
    }));

  test("the README's receiver example, run as written against a real delivery", () =>
    withDatabase(async (db) => {
      const receive = readmeReceiver();
      const stub = await startHttpStub(() => ({ status: 204 }));
      const { ticketIds } = await createOrder(db.pool, 1);
      await driveTo(db.pool, ticketIds[0] as number, "refunded");
      const running = dispatcher(db, { NOTIFICATION_URL: stub.url, NOTIFICATION_SECRET: SECRET });
      try {
        const rows = await waitFor("events delivered", () => allPublished(db));
        for (const row of rows) {
          const request = stub.requests.find((r) => cloudEvent(r).id === row.event_id) as StubRequest;
          const event = receive(SECRET, request.body, request.headers);
          assert.equal(event.id, row.event_id);
          assert.equal(event.type, row.type);
          assert.deepEqual(event.data, row.payload);
          assert.throws(() => receive(SECRET, `${request.body} `, request.headers), WebhookVerificationError);
        }
      } finally {
        await running.stop();
        await stub.close();
      }
    }));

  test("Retry-After is bounded by backoffMaxMs; as an HTTP-date too", () =>
    withDatabase(async (db) => {
      const stub = await startHttpStub((_request, index) =>
        index === 0 ? { status: 429, headers: { "retry-after": "86400" } } : { status: 200 },
      );
      const { ticketIds } = await createOrder(db.pool, 1);
      await driveTo(db.pool, ticketIds[0] as number, "expired");
      const running = dispatcher(db, { NOTIFICATION_URL: stub.url }, { ...FAST, backoffMaxMs: 300 });
      try {
        const rows = await waitFor("delivered within the bound, not a day later", () => allPublished(db));
        assert.ok(rows.some((r) => r.attempts === 1 && r.last_error?.startsWith("answered 429")));
      } finally {
        await running.stop();
        await stub.close();
      }
      const now = Date.parse("2026-12-01T10:00:00Z");
      assert.equal(retryAfterMs("120", now), 120_000);
      assert.equal(retryAfterMs("Tue, 01 Dec 2026 10:00:30 GMT", now), 30_000);
      assert.equal(retryAfterMs("Tue, 01 Dec 2026 09:00:00 GMT", now), 0, "a date past is now");
      assert.equal(retryAfterMs("soon", now), undefined);
      assert.equal(retryAfterMs(undefined, now), undefined);
    }));

  test("410 Gone raises one delivery_gone alert without the URL, counts event_delivery_gone_total, and a later 2xx clears it", () =>
    withDatabase(async (db) => {
      let gone = true;
      const stub = await startHttpStub(() => (gone ? { status: 410, body: "no such hook" } : { status: 200 }));
      const { ticketIds } = await createOrder(db.pool, 2);
      await driveTo(db.pool, ticketIds[0] as number, "used");
      const url = `${stub.url}hooks/secret-token-123`;
      const running = dispatcher(db, { NOTIFICATION_URL: url });
      try {
        const alert = await waitFor("the delivery_gone alert", async () => {
          const { rows } = await db.pool.query<{ kind: string; message: string; details: unknown }>(
            "select kind, message, details from ticketing.alerts where kind = 'delivery_gone' and cleared_at is null",
          );
          return rows[0];
        });
        assert.doesNotMatch(JSON.stringify(alert), /127\.0\.0\.1|secret-token|http/);
        assert.match(alert.message, /410 Gone/);
        // The counter moves after its round's commit: waited for, not read once.
        await waitFor(
          "more 410s counted",
          async () => ((await running.metrics.deliveryGone.get()).values[0]?.value ?? 0) >= 3,
        );
        const { rows: count } = await db.pool.query(
          "select count(*)::int as n from ticketing.alerts where kind = 'delivery_gone'",
        );
        assert.equal(count[0].n, 1, "one alert however many 410s");
        const rows = await outbox(db);
        assert.ok(rows.every((r) => r.published_at === null || r.type === "alert.raised"));
        for (const row of rows)
          assert.doesNotMatch(`${row.last_error} ${JSON.stringify(row.payload)}`, /127\.0\.0\.1|secret-token/);
        assert.ok(running.logs.some((l) => l.msg === "notification endpoint answered 410 Gone; will retry"));
        assert.doesNotMatch(JSON.stringify(running.logs), /secret-token/);

        gone = false;
        await waitFor("delivered once the endpoint is back", () => allPublished(db));
        await waitFor("the alert cleared", async () => {
          const { rows } = await db.pool.query(
            "select 1 from ticketing.alerts where kind = 'delivery_gone' and cleared_at is not null",
          );
          return rows.length === 1;
        });
      } finally {
        await running.stop();
        await stub.close();
      }
    }));

  test("poison: an event whose send always throws is set aside with an alert naming it and retried, while the others flow", () =>
    withDatabase(async (db) => {
      const stub = await startHttpStub(() => ({ status: 200 }));
      // An event id no HTTP header can carry, and a later event of the same ticket that must wait for it.
      const poisonId = "ticket:777:1\nX-Injected: yes";
      await asEngine(
        db.pool,
        `insert into ticketing.outbox (event_id, type, ticket_id, order_id, seq, payload)
         values ($1, 'ticket.used', 777, 77, 1, '{}'), ('ticket:777:2', 'ticket.refunded', 777, 77, 2, '{}')`,
        [poisonId],
      );
      const running = dispatcher(db, { NOTIFICATION_URL: stub.url });
      try {
        await changedTickets(db, 2, 2);
        const poison = await waitFor("the poison retried", async () => {
          const rows = await outbox(db);
          const others = rows.filter((r) => r.ticket_id !== "777" && r.type !== "alert.raised");
          const poison = rows.find((r) => r.event_id === poisonId);
          return others.length === 12 && others.every((r) => r.published_at !== null) && (poison?.attempts ?? 0) >= 2
            ? poison
            : undefined;
        });
        assert.equal(poison.published_at, null);
        assert.match(poison.last_error ?? "", /^the send threw: InvalidArgumentError: invalid [a-z-]+ header$/);
        const sibling = (await outbox(db)).find((r) => r.event_id === "ticket:777:2") as Row;
        assert.deepEqual([sibling.published_at, sibling.attempts], [null, 0], "its ticket's later event waits");
        const { rows: alerts } = await db.pool.query<{ message: string; details: { event_id: string } }>(
          "select message, details from ticketing.alerts where kind = 'event_undeliverable' and cleared_at is null",
        );
        assert.equal(alerts.length, 1, "one alert, however often it fails");
        assert.equal(alerts[0]?.details.event_id, poisonId);
        assert.ok(alerts[0]?.message.includes(poisonId));
        assert.ok(stub.requests.every((r) => !String(r.headers["webhook-id"]).includes("ticket:777")));
        const logged = running.logs.find((l) => l.msg === "event cannot be sent; set aside, retried with backoff");
        assert.equal(logged?.eventId, poisonId);
      } finally {
        await running.stop();
        await stub.close();
      }
    }));

  test("a receiver's answer with a NUL byte is recorded like any failure, not a failed round", () =>
    withDatabase(async (db) => {
      const stub = await startHttpStub((_request, index) =>
        index === 0 ? { status: 500, body: "broken\u0000answer" } : { status: 200 },
      );
      const { ticketIds } = await createOrder(db.pool, 2);
      await driveTo(db.pool, ticketIds[0] as number, "used");
      const running = dispatcher(db, { NOTIFICATION_URL: stub.url }, { ...FAST, lanes: 1 });
      try {
        const rows = await waitFor("events delivered", () => allPublished(db));
        assert.ok(rows.some((r) => r.last_error === "answered 500: brokenanswer"));
        assert.ok(!running.logs.some((l) => l.msg === "outbox round failed; retrying"), "no round failed");
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
        const event = cloudEvent(request);
        const ticketId = ticketOf(event);
        if (ticketId === null) return { status: 200 };
        const key = String(ticketId);
        const seq = Number(event.sequence);
        const last = acked.get(key) ?? 0;
        if (seq !== last + 1) violations.push(`${event.id} arrived after seq ${last} was acknowledged`);
        // Every fourth request fails; the answers take 0-4 ms, so requests finish out of order.
        const fail = index % 4 === 0;
        if (!fail) acked.set(key, Math.max(last, seq));
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
        const received = stub.requests.map(cloudEvent);
        for (const id of ticketIds) {
          const seqs = received.filter((e) => ticketOf(e) === id).map((e) => Number(e.sequence));
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
        // A pool of one connection of its own: no other query of the test runs with the setting.
        const writer = db.openPool(1);
        await writer.query("set synchronous_commit = off");
        const insertStartedAt = Date.now();
        for (let i = 1; i <= count; i++) {
          await asEngine(
            writer,
            "insert into ticketing.outbox (event_id, type, ticket_id, seq, payload) values ($1, 'ticket.used', $2, 1, '{}')",
            [`trickle:${i}`, 1_000 + i],
          );
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
          stub.requests.map((r) => cloudEvent(r).id).sort(),
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
    asEngine(
      db.pool,
      `insert into ticketing.outbox (event_id, type, ticket_id, order_id, seq, payload)
       select format('plan:%s', g), 'ticket.expired', (g - 1) / 3 + 1, (g - 1) / 12 + 1, (g - 1) % 3 + 1, '{}'::jsonb
         from generate_series(1, $1::int) g`,
      [count],
    );

  /**
   * The plan the claim's statement gets inside ticketing.claim_outbox (with the function's own settings),
   * as auto_explain reports nested statements, custom or generic; and the ids it claimed.
   */
  const claimInside = async (db: TestDatabase, planCacheMode: "force_custom_plan" | "force_generic_plan") => {
    // LOAD 'auto_explain' needs a superuser: the test cluster's admin, on this test's database.
    const adminUrl = new URL(process.env.TEST_ADMIN_URL ?? db.url);
    adminUrl.pathname = `/${db.name}`;
    const client = new pg.Client({ connectionString: adminUrl.toString() });
    await client.connect();
    const plans: PlanNode[] = [];
    client.on("notice", (notice) => {
      const text = notice.message ?? "";
      if (text.includes('"Plan"')) plans.push(JSON.parse(text.slice(text.indexOf("{"))).Plan);
    });
    try {
      await client.query("load 'auto_explain'");
      for (const setting of [
        "auto_explain.log_min_duration = 0",
        "auto_explain.log_nested_statements = on",
        "auto_explain.log_format = json",
        "auto_explain.log_level = notice",
        `plan_cache_mode = ${planCacheMode}`,
        // And it runs in bounded time: the old plans took 2-30 s per claim here, minutes with a 1M backlog.
        "statement_timeout = '10s'",
      ])
        await client.query(`set ${setting}`);
      await client.query("begin");
      const claimed = await client.query<{ id: string }>(
        "select id from ticketing.claim_outbox(500, '/test', 1000, 3600000)",
      );
      await client.query("rollback");
      const plan = plans.find((p) => outboxScans(p).length > 0);
      assert.ok(plan, "auto_explain reported the claim's statement");
      return { plan, ids: claimed.rows.map((r) => r.id) };
    } finally {
      await client.end();
    }
  };
  const explainBoth = async (db: TestDatabase, state: string) => {
    const first = await db.pool.query<{ id: string }>(
      "select id from ticketing.outbox where published_at is null order by id limit 500",
    );
    for (const mode of ["force_custom_plan", "force_generic_plan"] as const) {
      const { plan, ids } = await claimInside(db, mode);
      assertIndexLookups(plan, `${state}, ${mode}`);
      assert.deepEqual(
        ids,
        first.rows.map((r) => r.id),
        `${state}: the 500 earliest events, whole tickets first`,
      );
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
      await asEngine(db.pool, "delete from ticketing.outbox");
      await asEngine(
        db.pool,
        `insert into ticketing.outbox (event_id, type, order_id, payload, published_at)
         select format('drained:%s', g), 'order.completed', g, '{}'::jsonb, now() from generate_series(1, 3) g`,
      );
      await db.pool.query("analyze ticketing.outbox");
      await insertUndelivered(db, 200_000);
      await explainBoth(db, "analyzed while drained");
    }));
});

describe("without NOTIFICATION_URL", () => {
  /** A LISTEN client on ticketing_events: the CloudEvents it hears, parsed. */
  const listen = async (db: TestDatabase) => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const heard: CloudEventBody[] = [];
    listener.on("notification", (message) => heard.push(JSON.parse(message.payload ?? "null")));
    await listener.query("listen ticketing_events");
    return { heard, end: () => listener.end() };
  };

  test("a LISTEN client on ticketing_events hears every event as the same CloudEvent, one ticket's in order, and the rows are published", () =>
    withDatabase(async (db) => {
      const listener = await listen(db);
      const running = dispatcher(db, {});
      try {
        const ticketIds = await changedTickets(db, 2, 3);
        const rows = await waitFor("events published", async () => {
          const rows = await allPublished(db);
          return rows && rows.length === 18 ? rows : undefined;
        });
        const { heard } = listener;
        await waitFor("every notification", async () => heard.length >= rows.length);
        for (const row of rows) {
          const event = heard.find((e) => e.id === row.event_id);
          assert.ok(event, row.event_id);
          const { time: _time, ...rest } = event;
          assert.deepEqual(rest, {
            specversion: "1.0",
            id: row.event_id,
            source: "/ticket-lifecycle-daemon",
            type: row.type,
            subject: `ticket/${row.ticket_id}`,
            sequence: String(row.seq).padStart(19, "0"),
            datacontenttype: "application/json",
            data: row.payload,
          });
          const parsed = HTTP.toEvent({
            headers: { "content-type": "application/cloudevents+json" },
            body: JSON.stringify(event),
          }) as CloudEvent;
          assert.ok(parsed.validate());
        }
        for (const id of ticketIds) {
          assert.deepEqual(
            heard.filter((e) => ticketOf(e) === id).map((e) => Number(e.sequence)),
            [1, 2, 3],
          );
        }
        assert.equal((await running.metrics.eventsDelivered.get()).values[0]?.value, 18);
      } finally {
        await running.stop();
        await listener.end();
      }
    }));

  test("an event too long for pg_notify (8000 bytes) is sent without its data, marked dataomitted; the others whole", () =>
    withDatabase(async (db) => {
      const listener = await listen(db);
      const running = dispatcher(db, {});
      try {
        const { ticketIds } = await createOrder(db.pool, 2);
        const [big, small] = ticketIds as [number, number];
        await db.pool.query("select ticketing.transition_ticket($1, 'used', 'big', null, $2)", [
          big,
          { note: "x".repeat(9_000) },
        ]);
        await driveTo(db.pool, small, "used");
        const rows = await waitFor("events published", async () => {
          const rows = await allPublished(db);
          return rows && rows.length === 3 ? rows : undefined;
        });
        const { heard } = listener;
        await waitFor("every notification", async () => heard.length >= 3);
        const bigEvent = heard.find((e) => ticketOf(e) === big);
        assert.ok(bigEvent);
        assert.equal(bigEvent.dataomitted, true);
        assert.equal(bigEvent.data, undefined);
        assert.equal(bigEvent.datacontenttype, undefined);
        assert.equal(bigEvent.id, rows.find((r) => r.ticket_id === String(big))?.event_id);
        assert.equal(bigEvent.sequence, "0000000000000000001");
        const parsed = HTTP.toEvent({
          headers: { "content-type": "application/cloudevents+json" },
          body: JSON.stringify(bigEvent),
        }) as CloudEvent;
        assert.ok(parsed.validate(), "still a valid CloudEvent");
        assert.equal(parsed.dataomitted, true);
        for (const event of heard.filter((e) => e !== bigEvent)) {
          assert.equal(event.dataomitted, undefined);
          assert.ok(event.data);
        }
      } finally {
        await running.stop();
        await listener.end();
      }
    }));

  test("poison: an event pg_notify refuses even without data is set aside with an alert naming it; the others go out", () =>
    withDatabase(async (db) => {
      const listener = await listen(db);
      // Its type alone is over the limit: no notification can carry it.
      const [poison] = (
        await asEngine(
          db.pool,
          `insert into ticketing.outbox (event_id, type, ticket_id, order_id, seq, payload)
           values ('ticket:888:1', repeat('t', 9000), 888, 88, 1, '{}'), ('ticket:888:2', 'ticket.used', 888, 88, 2, '{}')
           returning id`,
        )
      ).rows as Array<{ id: string }>;
      const running = dispatcher(db, {});
      try {
        await changedTickets(db, 1, 2);
        const row = await waitFor("the poison retried while the others went out", async () => {
          const rows = await outbox(db);
          const others = rows.filter((r) => r.ticket_id !== "888" && r.type !== "alert.raised");
          const row = rows.find((r) => r.id === poison?.id);
          return others.length === 6 && others.every((r) => r.published_at !== null) && (row?.attempts ?? 0) >= 2
            ? row
            : undefined;
        });
        assert.equal(row.published_at, null);
        assert.match(row.last_error ?? "", /^pg_notify refused it: payload string too long/);
        const sibling = (await outbox(db)).find((r) => r.event_id === "ticket:888:2") as Row;
        assert.deepEqual([sibling.published_at, sibling.attempts], [null, 0], "its ticket's later event waits");
        const { rows: alerts } = await db.pool.query<{ details: { event_id: string } }>(
          "select details from ticketing.alerts where kind = 'event_undeliverable' and cleared_at is null",
        );
        assert.deepEqual(
          alerts.map((a) => a.details.event_id),
          ["ticket:888:1"],
        );
        await waitFor("the alert's own event heard", async () => listener.heard.some((e) => e.type === "alert.raised"));
        assert.ok(!listener.heard.some((e) => ticketOf(e) === 888));
      } finally {
        await running.stop();
        await listener.end();
      }
    }));
});

describe("pruning", () => {
  test("deletes delivered events older than OUTBOX_RETENTION_HOURS, in chunks; never undelivered ones", () =>
    withDatabase(async (db) => {
      await asEngine(
        db.pool,
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
        stub.requests.map((r) => cloudEvent(r).id).sort(),
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
        const webhook = new Webhook(SECRET);
        for (const request of stub.requests) webhook.verify(request.body, headersOf(request));
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
