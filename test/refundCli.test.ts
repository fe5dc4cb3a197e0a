// `ticket-lifecycle refund` as an operator runs it: the real CLI as a child process against this file's
// database, a daemon draining what it queues.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { runCli } from "./support/cli.ts";
import { startTestDaemon } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { createOrder, driveTo, freshId } from "./support/fixtures.ts";

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

function idFile(name: string, lines: Array<number | string>): string {
  const dir = path.resolve(".data", "refund-cli");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}-${process.pid}.txt`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

/** The CLI's stdout and stderr apart, and its exit code. */
async function refund(args: string[], stdin?: string) {
  const run = runCli(["refund", ...args], { env: { DATABASE_URL: db.url, LOG_LEVEL: "warn" } });
  let stdout = "";
  let stderr = "";
  run.child.stdout?.on("data", (chunk) => (stdout += chunk));
  run.child.stderr?.on("data", (chunk) => (stderr += chunk));
  if (stdin !== undefined) run.child.stdin?.end(stdin);
  const code = await run.exit;
  return { code, stdout, stderr };
}

const footprint = async () =>
  (
    await db.pool.query(
      `select (select count(*)::int from ticketing.ticket_requests) as requests,
              (select count(*)::int from ticketing.bulk_refunds) as bulks,
              (select count(*)::int from graphile_worker.jobs) as jobs,
              (select count(*)::int from ticketing.ticket_status_audit) as audit`,
    )
  ).rows[0];

test("--dry-run: how many would be refunded and why the others cannot be, writing nothing", async () => {
  const first = await createOrder(db.pool, 3);
  const second = await createOrder(db.pool, 2);
  await driveTo(db.pool, first.ticketIds[0] as number, "used");
  await driveTo(db.pool, second.ticketIds[0] as number, "expired");
  const file = idFile("orders", [first.orderId, second.orderId, freshId()]);
  const before = await footprint();
  const { code, stdout } = await refund(["--orders", file, "--event-id", "gig-1", "--dry-run"]);
  assert.equal(code, 0, stdout);
  assert.equal(
    stdout,
    [
      "dry run, nothing written: 3 ticket(s) would be refunded",
      "3 cannot be refunded:",
      "  already_expired: 1",
      "  already_used: 1",
      "  unknown_order: 1",
      "",
    ].join("\n"),
  );
  assert.deepEqual(await footprint(), before);
});

test("a real run from stdin: the outcomes on stdout, progress on stderr, until every request is finished", async () => {
  const { ticketIds } = await createOrder(db.pool, 4);
  await driveTo(db.pool, ticketIds[3] as number, "refunded");
  const unknown = freshId();
  const daemon = await startTestDaemon(db);
  try {
    const { code, stdout, stderr } = await refund(
      ["--tickets", "-", "--event-id", "gig-2"],
      `${[...ticketIds, unknown].join("\n")}\n\n`,
    );
    assert.equal(code, 0, stderr);
    const bulkId = (await db.pool.query("select max(id)::text as id from ticketing.bulk_refunds")).rows[0].id;
    assert.equal(
      stdout,
      [
        `bulk refund ${bulkId} (event gig-2): 3 refund request(s) queued`,
        "cannot be refunded:",
        "  already_refunded: 1",
        "  unknown: 1",
        `bulk refund ${bulkId} finished: 3 refunded, 0 failed`,
        "",
      ].join("\n"),
    );
    assert.match(stderr, new RegExp(`^bulk refund ${bulkId}: 3/3 \\(done 3, failed 0, remaining 0\\)$`, "m"));
    const { rows } = await db.pool.query("select status from ticketing.tickets where id = any($1)", [ticketIds]);
    assert.deepEqual(
      rows.map((r) => r.status),
      ["refunded", "refunded", "refunded", "refunded"],
    );
    // The same file again: nothing new.
    const again = await refund(["--tickets", "-", "--event-id", "gig-2"], ticketIds.join("\n"));
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^nothing queued for event gig-2\n3 already requested by event gig-2\n/);
  } finally {
    await daemon.stop();
  }
});

test("ids are kept exact to 64 bits; a line that is no id, or an id beyond bigint, stops the run before anything is written", async () => {
  const big = "9223372036854775807";
  const plan = await refund(["--tickets", idFile("big", [big]), "--event-id", "gig-3", "--dry-run"]);
  assert.match(plan.stdout, /0 ticket\(s\) would be refunded\n1 cannot be refunded:\n {2}unknown: 1\n/);
  const before = await footprint();
  const bad = await refund(["--tickets", idFile("bad", ["12", "x7"]), "--event-id", "gig-3"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /line 2: "x7" is not an integer id/);
  // The range is PostgreSQL's to judge, as for every caller: 22003, one line, nothing written.
  const beyond = await refund(["--tickets", idFile("beyond", ["12", "9223372036854775808"]), "--event-id", "gig-3"]);
  assert.equal(beyond.code, 1);
  assert.match(beyond.stderr, /out of range for type bigint/);
  const usage = await refund(["--tickets", "-"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: ticket-lifecycle refund/);
  const refused = await refund(["--tickets", idFile("one", ["12"]), "--event-id", "x".repeat(181)]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /a bulk refund's limit is 180/);
  assert.deepEqual(await footprint(), before);
});
