// Request kinds are data: a newcomer adds one row to ticketing.request_kinds (the README's own migration text,
// run as the owner on a migrated, hardened database) and one task file built by requestTask, and a request of
// the new kind (ticketing.submit_request, as a service's client login) ends with the ticket moved, audited and
// announced. A row whose task no file defines, or a task file whose kind no row has, stops the daemon.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
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

const refundTask = requestTask({ kind: "refund", identifier: "ticket_refund_requested" });
const changeTask = requestTask({ kind: "change", identifier: "ticket_change_requested" });

describe("checkRequestKinds", () => {
  test("passes when every kind's task is defined", async () => {
    await checkRequestKinds(db.pool, [{ identifier: "expire_tickets" }, refundTask, changeTask]);
  });

  test("fails with one line naming each kind whose task no file defines", async () => {
    await assert.rejects(checkRequestKinds(db.pool, [refundTask]), (error: Error) => {
      assert.equal(
        error.message,
        "request kinds and task files disagree: change's task ticket_change_requested: no file in tasks/ defines it",
      );
      assert.equal(error.message.includes("\n"), false);
      return true;
    });
  });

  test("fails when a task file runs another kind than its row names, or a kind no row has", async () => {
    const crossed = requestTask({ kind: "refund", identifier: "ticket_change_requested" });
    const orphan = requestTask({ kind: "voiding", identifier: "ticket_voiding_requested" });
    await assert.rejects(checkRequestKinds(db.pool, [refundTask, crossed, orphan]), (error: Error) => {
      assert.equal(
        error.message,
        "request kinds and task files disagree: tasks/ticket_change_requested.ts runs kind refund, its row says change; " +
          "tasks/ticket_voiding_requested.ts runs kind voiding, which no row of ticketing.request_kinds has",
      );
      return true;
    });
  });
});

/** The SQL block of the README's "Adding a request kind", exactly as a newcomer copies it into a migration. */
function readmeKindMigration(): string {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("**Adding a request kind**"));
  const sql = /```sql\n([\s\S]*?)```/.exec(section)?.[1];
  if (!sql) throw new Error("README.md: no sql block under **Adding a request kind**");
  return sql;
}

describe("a new request kind is one row and one task file", () => {
  // What a newcomer writes: the README's migration, run as migrate runs a file (the owner, one transaction) ...
  const addVoidKind = async () => {
    const owner = new pg.Client({ connectionString: db.urlAs("owner") });
    await owner.connect();
    try {
      await owner.query(`begin; ${readmeKindMigration()}; commit;`);
    } finally {
      await owner.end();
    }
  };
  // ... and the task file's default export.
  const voidTask = requestTask({ kind: "void", identifier: "ticket_void_requested" });

  let runner: Runner | undefined;
  let pool: pg.Pool | undefined;
  after(async () => {
    await runner?.stop();
    await pool?.end();
  });

  test("a request of the new kind expires the ticket, audited, with its event in the outbox", async () => {
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
    await checkRequestKinds(pool, [refundTask, changeTask, voidTask]);
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
    const client = new pg.Client({ connectionString: db.urlAs("client") });
    await client.connect();
    try {
      const { rows } = await client.query("select ticketing.submit_request('void', $1, 'void-1', $2) as outcome", [
        ticketId,
        { reason: "duplicate sale" },
      ]);
      assert.equal(rows[0].outcome, "queued");
    } finally {
      await client.end();
    }

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
