// The operator actions (sql/13-operations.sql), through the real CLI against a running daemon: each dry
// run writes nothing and prints exactly the table the real run then prints; each real run is recorded in
// ticketing.operator_actions with who, what, parameters and how many.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { cliOutput } from "./support/cli.ts";
import { startTestDaemon, type TestDaemon, waitFor } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { asEngine } from "./support/engine.ts";
import { createOrder } from "./support/fixtures.ts";
import { startHttpStub } from "./support/httpStub.ts";

let db: TestDatabase;
let daemon: TestDaemon;
let refundsAccepted = false;
let refundStub: Awaited<ReturnType<typeof startHttpStub>>;
let sink: Awaited<ReturnType<typeof startHttpStub>>;

before(async () => {
  db = await createTestDatabase();
  // Until refundsAccepted, a decision the state machine refuses: the request fails with a request_rejected alert.
  refundStub = await startHttpStub(() => ({
    status: 200,
    body: { target_status: refundsAccepted ? "refunded" : "used" },
  }));
  sink = await startHttpStub(() => ({ status: 204 }));
  daemon = await startTestDaemon(db, { REFUND_SERVICE_URL: refundStub.url, NOTIFICATION_URL: sink.url });
});
after(async () => {
  await daemon.stop();
  await refundStub.close();
  await sink.close();
  await db.drop();
});

const cli = (args: string[]) => cliOutput(args, { DATABASE_URL: db.url });

/**
 * A dry run and the real run: same table, the dry run's first line says so; returns the real run's output.
 * `targets` reads the rows the action is about (the daemon keeps working on everything else meanwhile).
 */
async function dryRunThenRun(
  args: string[],
  verb: string,
  past: string,
  count: number,
  targets: () => Promise<unknown>,
) {
  const before = await Promise.all([targets(), actionCount()]);
  const dry = await cli([...args, "--dry-run"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(await Promise.all([targets(), actionCount()]), before, "a dry run writes nothing");
  const real = await cli(args);
  assert.equal(real.code, 0, real.stderr);
  const [dryHead, ...dryTable] = dry.stdout.split("\n");
  const [realHead, ...realTable] = real.stdout.split("\n");
  assert.match(dryHead as string, new RegExp(`^dry run: would ${verb} ${count} .*; nothing was changed$`));
  assert.match(realHead as string, new RegExp(`^${past} ${count} `));
  assert.deepEqual(realTable, dryTable, "the dry run printed what the real run did");
  assert.equal(count > 0, realTable.length > 1);
  return real.stdout;
}

const actionCount = async () =>
  (await db.pool.query("select count(*)::int as n from ticketing.operator_actions")).rows[0].n as number;

/** The rows of `table` matching `where`, whole, in id order. */
const rowsOf = (table: string, where: string, params: unknown[]) => async () =>
  (await db.pool.query(`select * from ${table} t where ${where} order by id`, params)).rows;

async function lastAction() {
  const { rows } = await db.pool.query(
    "select actor, action, parameters, affected, actor = session_user as by_me from ticketing.operator_actions order by id desc limit 1",
  );
  return rows[0];
}

describe("requests retry", () => {
  test("failed refunds of one order back to pending, queued, their alerts cleared, and then done", async () => {
    const { orderId, ticketIds } = await createOrder(db.pool, 3);
    const other = await createOrder(db.pool, 1);
    for (const id of [...ticketIds, ...other.ticketIds])
      await db.pool.query("select ticketing.request_refund($1, $2)", [id, `retry-${id}`]);
    await waitFor("four refunds refused", async () => {
      const { rows } = await db.pool.query(
        "select count(*)::int as n from ticketing.ticket_requests where status = 'failed' and event_id like 'retry-%'",
      );
      return rows[0].n === 4;
    });
    refundsAccepted = true;

    const out = await dryRunThenRun(
      ["requests", "retry", "--order", String(orderId)],
      "retry",
      "retried",
      3,
      rowsOf("ticketing.ticket_requests", "ticket_id = any($1::bigint[])", [ticketIds]),
    );
    for (const id of ticketIds) assert.match(out, new RegExp(`retry-${id} +refund +${id} `));
    assert.doesNotMatch(out, new RegExp(`retry-${other.ticketIds[0]}`), "another order's request stays failed");
    assert.deepEqual(await lastAction(), {
      actor: (await db.pool.query("select session_user as u")).rows[0].u,
      action: "retry_failed_requests",
      parameters: { order_id: orderId },
      affected: 3,
      by_me: true,
    });
    const { rows: alerts } = await db.pool.query(
      "select key from ticketing.active_alerts where key like 'request_rejected:retry-%' order by key",
    );
    assert.deepEqual(
      alerts.map((a) => a.key),
      [`request_rejected:retry-${other.ticketIds[0]}`],
      "the retried requests' alerts are cleared, the other's stays",
    );
    await waitFor("the retried refunds succeed", async () => {
      const { rows } = await db.pool.query(
        "select array_agg(status order by ticket_id) as s from ticketing.ticket_requests where ticket_id = any($1::bigint[])",
        [ticketIds],
      );
      return rows[0].s.every((s: string) => s === "succeeded");
    });
    const { rows } = await db.pool.query("select status from ticketing.ticket_requests where event_id = $1", [
      `retry-${other.ticketIds[0]}`,
    ]);
    assert.equal(rows[0].status, "failed");
  });

  test("no filter is refused (TL422); nothing matching retries nothing", async () => {
    const none = await cli(["requests", "retry"]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^ticket-lifecycle: retry_failed_requests needs at least one filter$/m);
    const empty = await cli(["requests", "retry", "--event-id", "no-such-event", "--json"]);
    assert.deepEqual(JSON.parse(empty.stdout), { dry_run: false, count: 0, rows: [] });
  });
});

describe("events replay", () => {
  test("delivered events of one type and order sent again with their original ids; --wait shows progress", async () => {
    const { orderId, ticketIds } = await createOrder(db.pool, 3);
    for (const id of ticketIds) await db.pool.query("select ticketing.redeem_ticket($1, $2)", [id, `use-${id}`]);
    const { rows: events } = await db.pool.query(
      "select id, event_id from ticketing.outbox where order_id = $1 and type = 'ticket.used' order by id",
      [orderId],
    );
    assert.equal(events.length, 3);
    const sentOnce = (eventId: string) => sink.requests.filter((r) => r.body.includes(eventId)).length;
    await waitFor("first delivery", async () => events.every((e) => sentOnce(e.event_id) === 1));
    await waitFor("marked delivered", async () => {
      const { rows } = await db.pool.query(
        "select bool_and(published_at is not null) as ok from ticketing.outbox where order_id = $1",
        [orderId],
      );
      return rows[0].ok;
    });

    const out = await dryRunThenRun(
      ["events", "replay", "--order", String(orderId), "--type", "ticket.used", "--since", "2000-01-01", "--wait"],
      "replay",
      "replayed",
      3,
      rowsOf("ticketing.outbox", "order_id = $1", [orderId]),
    );
    for (const e of events) assert.match(out, new RegExp(`^ +${e.id} +${e.event_id} +ticket.used `, "m"));
    assert.equal((await lastAction()).action, "replay_events");
    // --wait returned: every replayed event went out again, with its original id.
    for (const e of events) assert.equal(sentOnce(e.event_id), 2);
  });

  test("--wait prints its progress on stderr and nothing but the answer on stdout", async () => {
    const { orderId, ticketIds } = await createOrder(db.pool, 2);
    for (const id of ticketIds) await db.pool.query("select ticketing.redeem_ticket($1, $2)", [id, `p-${id}`]);
    await waitFor("delivered", async () => {
      const { rows } = await db.pool.query(
        "select count(*)::int as n from ticketing.outbox where order_id = $1 and published_at is not null and type = 'ticket.used'",
        [orderId],
      );
      return rows[0].n === 2;
    });
    const run = await cli([
      "events",
      "replay",
      "--order",
      String(orderId),
      "--type",
      "ticket.used",
      "--wait",
      "--json",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).count, 2);
    assert.match(run.stderr, /^replay: 2\/2 delivered$/m);
  });
});

describe("jobs failed / retry / discard", () => {
  /** A check_order job for later, failed for good through graphile-worker's own function. */
  async function failedJob(orderId: number): Promise<string> {
    const { rows } = await db.pool.query(
      `select id from graphile_worker.add_job('check_order', json_build_object('order_id', $1::bigint),
              run_at => now() + interval '1 day', max_attempts => 2)`,
      [orderId],
    );
    await db.pool.query("select graphile_worker.permanently_fail_jobs(array[$1::bigint], 'planted failure')", [
      rows[0].id,
    ]);
    return String(rows[0].id);
  }
  const jobExists = async (id: string) =>
    (await db.pool.query("select 1 from graphile_worker.jobs where id = $1", [id])).rowCount === 1;

  test("lists them, retries one (the daemon runs it), discards another", async () => {
    const { orderId } = await createOrder(db.pool, 1);
    const retried = await failedJob(orderId);
    const discarded = await failedJob(orderId);

    const list = await cli(["jobs", "failed", "--json"]);
    const listed = JSON.parse(list.stdout);
    assert.deepEqual(
      listed.map((j: { id: number; task: string; attempts: number; last_error: string }) => [
        String(j.id),
        j.task,
        j.attempts,
        j.last_error,
      ]),
      [
        [retried, "check_order", 2, "planted failure"],
        [discarded, "check_order", 2, "planted failure"],
      ],
    );

    const jobs = rowsOf("graphile_worker._private_jobs", "id = any($1::bigint[])", [[retried, discarded]]);
    const out = await dryRunThenRun(["jobs", "retry", "--id", retried], "retry", "retried", 1, jobs);
    assert.match(out, new RegExp(`^ +${retried} +check_order +2 +planted failure$`, "m"));
    assert.deepEqual((await lastAction()).parameters, {
      job_ids: [Number(retried)],
      jobs: [{ id: Number(retried), task: "check_order" }],
    });
    await waitFor("the retried job ran and is gone", async () => !(await jobExists(retried)));

    await dryRunThenRun(["jobs", "discard", "--id", discarded, "--id", retried], "discard", "discarded", 1, jobs);
    assert.equal(await jobExists(discarded), false);
    assert.equal((await lastAction()).action, "discard_failed_jobs");
    assert.equal((await cli(["jobs", "failed"])).stdout, "no permanently failed job(s)");
  });

  test("a job that has attempts left is not touched", async () => {
    const { rows } = await db.pool.query(
      "select id from graphile_worker.add_job('check_order', '{\"order_id\": 1}', run_at => now() + interval '1 day')",
    );
    const id = String(rows[0].id);
    const run = await cli(["jobs", "discard", "--id", id]);
    assert.equal(run.stdout, "discarded 0 permanently failed job(s)");
    assert.equal(await jobExists(id), true);
  });
});

describe("alerts / alerts clear", () => {
  test("lists active alerts, clears one (alert.cleared event), recorded", async () => {
    await asEngine(db.pool, "insert into ticketing.alert_kinds (kind, description) values ('ops_test', 'a test kind')");
    await db.pool.query("select ticketing.raise_alert('ops-test:1', 'ops_test', 'raised by the test')");
    const list = await cli(["alerts"]);
    assert.match(list.stdout, /ops_test +ops-test:1 +raised by the test/);

    await dryRunThenRun(
      ["alerts", "clear", "ops-test:1"],
      "clear",
      "cleared",
      1,
      rowsOf("ticketing.alerts", "key = $1", ["ops-test:1"]),
    );
    const { rows } = await db.pool.query(
      "select a.cleared_at is not null as cleared, exists (select 1 from ticketing.outbox o where o.event_id = 'alert:' || a.id || ':cleared') as event from ticketing.alerts a where key = 'ops-test:1'",
    );
    assert.deepEqual(rows[0], { cleared: true, event: true });
    assert.deepEqual(await lastAction(), {
      actor: (await db.pool.query("select session_user as u")).rows[0].u,
      action: "resolve_alert",
      parameters: { key: "ops-test:1", kind: "ops_test" },
      affected: 1,
      by_me: true,
    });
    const again = await cli(["alerts", "clear", "ops-test:1"]);
    assert.equal(again.code, 1);
    assert.equal(again.stdout, "cleared 0 active alert(s)");

    const actions = await cli(["actions"]);
    assert.match(actions.stdout, /resolve_alert +1 +\{"key":"ops-test:1","kind":"ops_test"\}/);
  });

  test("ticketing_reader reads the operator actions and failed jobs", async () => {
    const { rows } = await db.pool.query(
      `select has_table_privilege('ticketing_reader', 'ticketing.operator_actions', 'select') as actions,
              has_table_privilege('ticketing_reader', 'ticketing.failed_jobs', 'select') as jobs`,
    );
    assert.deepEqual(rows[0], { actions: true, jobs: true });
  });
});
