// Request kinds are data: a newcomer adds one row to ticketing.request_kinds and one task file built by
// requestTask, and a raw add_job for the new kind ends with the ticket moved, audited and announced. A row whose
// task no file defines stops the daemon from starting.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Runner, run } from "graphile-worker";
import pg from "pg";
import { loadEnv } from "../src/config/env.ts";
import { createLogger } from "../src/logger.ts";
import { createMetrics } from "../src/observability/metrics.ts";
import { checkRequestKinds } from "../src/requests/checkRequestKinds.ts";
import { requestTask } from "../src/requests/requestTask.ts";
import { sweepJob } from "../src/sql/sweepJob.ts";
import { buildTaskList } from "../src/taskList.ts";
import { waitFor } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { asEngine } from "./support/engine.ts";
import { createOrder, sqlState } from "./support/fixtures.ts";

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db?.drop();
});

describe("checkRequestKinds", () => {
  test("passes when every kind's task is defined", async () => {
    await checkRequestKinds(db.pool, ["expire_tickets", "ticket_refund_requested", "ticket_change_requested"]);
  });

  test("fails with one line naming each kind whose task no file defines", async () => {
    await assert.rejects(checkRequestKinds(db.pool, ["ticket_refund_requested"]), (error: Error) => {
      assert.equal(
        error.message,
        "ticketing.request_kinds names request kinds no file in tasks/ defines a task for: change (task ticket_change_requested)",
      );
      assert.equal(error.message.includes("\n"), false);
      return true;
    });
  });
});

describe("a new request kind is one row and one task file", () => {
  // What a newcomer writes: the row (as a migration would, running as the engine) ...
  const addVoidKind = () =>
    asEngine(
      db.pool,
      `insert into ticketing.request_kinds
         (kind, task_identifier, target_status, in_flight_status, requested_event, alert_on_refusal)
       values ('void', 'ticket_void_requested', 'expired', null, 'ticket.void.requested', false)`,
    );
  // ... and the task file's default export.
  const voidTask = requestTask({ kind: "void", identifier: "ticket_void_requested" });

  let runner: Runner | undefined;
  let pool: pg.Pool | undefined;
  after(async () => {
    await runner?.stop();
    await pool?.end();
  });

  test("a raw add_job for the new kind expires the ticket, audited, with its event in the outbox", async () => {
    await addVoidKind();
    const env = loadEnv({ DATABASE_URL: db.urlAs("daemon") });
    pool = new pg.Pool({ connectionString: db.urlAs("daemon"), max: 4 });
    const deps = {
      pool,
      log: createLogger("silent"),
      env,
      metrics: createMetrics(),
      decide: {},
      sweep: await sweepJob(pool),
    };
    await checkRequestKinds(pool, ["ticket_refund_requested", "ticket_change_requested", voidTask.identifier]);
    runner = await run({
      pgPool: pool,
      // The daemon's own path from definitions to graphile-worker's task list.
      taskList: buildTaskList([voidTask], deps),
      concurrency: 1,
      noHandleSignals: true,
      pollInterval: 100,
    });

    const { orderId, ticketIds } = await createOrder(db.pool, 1);
    const ticketId = ticketIds[0] as number;
    await db.pool.query("select graphile_worker.add_job('ticket_void_requested', $1::json)", [
      JSON.stringify({ ticket_id: ticketId, event_id: "void-1", meta: { reason: "duplicate sale" } }),
    ]);

    const request = await waitFor("the void request to finish", async () => {
      const { rows } = await db.pool.query(
        "select kind, status, error from ticketing.ticket_requests where event_id = 'void-1' and status <> 'pending'",
      );
      return rows[0];
    });
    assert.deepEqual(request, { kind: "void", status: "succeeded", error: null });
    const { rows: tickets } = await db.pool.query("select status from ticketing.tickets where id = $1", [ticketId]);
    assert.equal(tickets[0].status, "expired");
    const { rows: audit } = await db.pool.query(
      "select prev_status, new_status, event, meta->>'reason' as reason from ticketing.ticket_status_audit where ticket_id = $1 and event_id = 'void-1'",
      [ticketId],
    );
    assert.deepEqual(audit, [
      { prev_status: "usable", new_status: "expired", event: "ticket.void.decided", reason: "duplicate sale" },
    ]);
    const { rows: events } = await db.pool.query(
      "select type, order_id::int, payload->>'cause_event_id' as cause from ticketing.outbox where ticket_id = $1",
      [ticketId],
    );
    assert.deepEqual(events, [{ type: "ticket.expired", order_id: orderId, cause: "void-1" }]);
    assert.equal(
      (await deps.metrics.requestsFinished.get()).values.find((v) => v.labels.kind === "void")?.value,
      1,
      "counted by kind",
    );
    const { rows: status } = await db.pool.query(
      "select status, count::int, kind_position from ticketing.status_requests where kind = 'void' order by status_position",
    );
    assert.deepEqual(status, [
      { status: "pending", count: 0, kind_position: null },
      { status: "succeeded", count: 1, kind_position: null },
      { status: "failed", count: 0, kind_position: null },
    ]);
  });
});

describe("lookup tables: statuses and alert kinds are rows the columns reference", () => {
  test("an alert of a kind ticketing.alert_kinds does not list is refused; a listed one is raised", async () => {
    assert.equal(
      await sqlState(db.pool.query("select ticketing.raise_alert('nope:1', 'no_such_kind', 'unlisted')")),
      "23503",
    );
    assert.equal(
      await sqlState(db.pool.query("select ticketing.raise_alert('gone:1', 'delivery_gone', 'listed')")),
      "ok",
    );
  });

  test("an order or a request status the lookup tables do not list is refused, even to the engine", async () => {
    const { orderId } = await createOrder(db.pool, 1);
    assert.equal(
      await sqlState(asEngine(db.pool, "update ticketing.orders set status = 'archived' where id = $1", [orderId])),
      "23503",
    );
    assert.equal(
      await sqlState(
        asEngine(
          db.pool,
          "insert into ticketing.ticket_requests (event_id, kind, ticket_id, status) values ('lookup-1', 'refund', 1, 'archived')",
        ),
      ),
      "23503",
    );
  });

  test("status_orders lists every order status in the table's order, zero counts included", async () => {
    const { rows } = await db.pool.query("select status, position from ticketing.status_orders order by position");
    assert.deepEqual(rows, [
      { status: "open", position: 1 },
      { status: "completed", position: 2 },
      { status: "cancelled", position: 3 },
    ]);
  });
});
