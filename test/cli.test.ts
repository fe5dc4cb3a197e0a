// The CLI as a newcomer and an operator use it: real child processes, real servers.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort, runCli } from "./support/cli.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { createOrder } from "./support/fixtures.ts";

let empty: TestDatabase;
before(async () => {
  empty = await createTestDatabase({ empty: true });
});
after(async () => {
  await empty.drop();
});

async function schemaFingerprint(db: TestDatabase) {
  const { rows } = await db.pool.query(`
    select (select count(*) from atdatabases_migrations_applied)::int as migrations,
           (select md5(string_agg(pg_get_functiondef(p.oid), '' order by p.oid)) from pg_proc p
              join pg_namespace n on n.oid = p.pronamespace where n.nspname in ('ticketing', 'graphile_worker')) as functions,
           (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname in ('ticketing', 'graphile_worker'))::int as relations,
           (select count(*) from ticketing.transitions)::int as transitions`);
  return rows[0];
}

describe("migrate", () => {
  test("applies everything to an empty database; a second run changes nothing", async () => {
    const first = runCli(["migrate"], { env: { DATABASE_URL: empty.url } });
    assert.equal(await first.exit, 0, first.lines.join("\n"));
    const once = await schemaFingerprint(empty);
    assert.equal(once.transitions, 6);
    assert.ok(once.migrations >= 5);
    const second = runCli(["migrate"], { env: { DATABASE_URL: empty.url } });
    assert.equal(await second.exit, 0, second.lines.join("\n"));
    assert.deepEqual(await schemaFingerprint(empty), once);
  });
});

describe("bad start-up input", () => {
  test("an invalid environment variable: one line naming it, exit 1", async () => {
    const run = runCli(["migrate"], { env: { DATABASE_URL: empty.url, WORKER_CONCURRENCY: "lots" } });
    assert.equal(await run.exit, 1);
    assert.equal(run.lines.length, 1);
    assert.match(run.lines[0] as string, /^ticket-lifecycle: invalid environment: WORKER_CONCURRENCY: /);
  });

  test("an invalid --config file: exit 1 naming the bad key", async () => {
    const file = path.resolve(".data", `bad-config-${process.pid}.yaml`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, "lifecycle_daemon:\n  expire_job:\n    batch_size: -3\n");
    const run = runCli(["run", "--config", file], { env: { DATABASE_URL: empty.url } });
    assert.equal(await run.exit, 1);
    assert.match(run.lines.join("\n"), /lifecycle_daemon\.expire_job\.batch_size/);
    rmSync(file);
  });

  test("an unknown command: usage, exit 2", async () => {
    const run = runCli(["explode"], { env: { DATABASE_URL: empty.url } });
    assert.equal(await run.exit, 2);
    assert.match(run.lines.join("\n"), /unknown command "explode"/);
  });

  test("a stray argument, or a missing one: the command's usage, exit 2", async () => {
    const stray = runCli(["alerts", "job_failing:expire_tickets"], { env: { DATABASE_URL: empty.url } });
    assert.equal(await stray.finished, 2);
    assert.deepEqual(stray.stderr, ["usage: ticket-lifecycle alerts [--json]"]);
    const missing = runCli(["alerts", "clear"], { env: { DATABASE_URL: empty.url } });
    assert.equal(await missing.finished, 2);
    assert.deepEqual(missing.stderr, ["usage: ticket-lifecycle alerts clear KEY [--dry-run] [--json]"]);
  });

  test("a command family without its second word: its commands, exit 2", async () => {
    const run = runCli(["jobs"], { env: { DATABASE_URL: empty.url } });
    assert.equal(await run.finished, 2);
    assert.deepEqual(run.stderr, [
      "jobs needs one of:",
      "  jobs failed [--json]",
      "  jobs retry --id N [--id N ...] [--dry-run] [--json]",
      "  jobs discard --id N [--id N ...] [--dry-run] [--json]",
    ]);
  });
});

describe("expire --dry-run", () => {
  test("prints how many tickets would expire and the oldest valid_end, writes nothing", async () => {
    const db = await createTestDatabase();
    try {
      await createOrder(db.pool, 3, "timestamptz '2020-01-02T03:04:05Z'");
      await createOrder(db.pool, 2);
      // Even with every log line asked for, stdout carries the answer alone (`expire --dry-run | ...`).
      const run = runCli(["expire", "--dry-run"], { env: { DATABASE_URL: db.url, LOG_LEVEL: "debug" } });
      assert.equal(await run.finished, 0);
      assert.deepEqual(run.stdout, ["3 ticket(s) would expire now; oldest valid_end: 2020-01-02T03:04:05.000Z"]);
      const { rows } = await db.pool.query("select count(*)::int as n from ticketing.tickets where status = 'usable'");
      assert.equal(rows[0].n, 5);
    } finally {
      await db.drop();
    }
  });
});

describe("logs", () => {
  test("LOG_FORMAT=pretty: readable lines on stderr; json (the default off a terminal): one object a line", async () => {
    const db = await createTestDatabase();
    try {
      const pretty = runCli(["migrate"], { env: { DATABASE_URL: db.url, LOG_FORMAT: "pretty" } });
      assert.equal(await pretty.finished, 0, pretty.lines.join("\n"));
      assert.deepEqual(pretty.stdout, []);
      const line = pretty.stderr.find((l) => l.includes("using DATABASE_URL"));
      assert.match(line ?? "", /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: using DATABASE_URL$/, pretty.stderr.join("\n"));
      assert.ok(
        pretty.stderr.every((l) => !l.startsWith("{")),
        "no JSON line",
      );

      const json = runCli(["migrate"], { env: { DATABASE_URL: db.url } });
      assert.equal(await json.finished, 0);
      assert.deepEqual(json.stdout, []);
      assert.ok(json.stderr.length > 0);
      for (const l of json.stderr) assert.equal(typeof JSON.parse(l).msg, "string", l);
    } finally {
      await db.drop();
    }
  });

  test("an unknown LOG_FORMAT is a one-line error naming it", async () => {
    const run = runCli(["status"], { env: { DATABASE_URL: empty.url, LOG_FORMAT: "xml" } });
    assert.equal(await run.finished, 1);
    assert.match(run.stderr.join("\n"), /^ticket-lifecycle: invalid environment: LOG_FORMAT: /);
  });
});

describe("run on the embedded PostgreSQL", () => {
  const cwd = path.resolve(".data", `cli-embedded-${process.pid}`);
  before(() => mkdirSync(cwd, { recursive: true }));
  after(() => rmSync(cwd, { recursive: true, force: true }));
  const env = { DATABASE_URL: undefined, WORKER_CONCURRENCY: "2" };

  async function startAndStop(expectLine?: RegExp) {
    const httpPort = await freePort();
    const run = runCli(["run"], { env: { ...env, HTTP_PORT: String(httpPort) }, cwd });
    try {
      if (expectLine) await run.waitForLine(expectLine);
      await run.waitForLine(/"msg":"daemon running"/);
      const psql = JSON.parse(run.stderr.find((l) => l.includes("connect with the psql command")) as string)
        .psql as string;
      const readyz = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
      assert.equal(readyz.status, 200);
      assert.deepEqual(await readyz.json(), { status: "ready" });
      // The logged command works as printed.
      const out = execFileSync("bash", ["-c", `${psql} -XAtc "select count(*) from ticketing.transitions"`], { cwd })
        .toString()
        .trim();
      assert.equal(out, "6");
      run.child.kill("SIGTERM");
      assert.equal(await run.exit, 0, run.lines.slice(-10).join("\n"));
      assert.ok(run.stderr.some((l) => l.includes('"msg":"daemon stopped"')));
      assert.deepEqual(run.stdout, [], "the daemon's logs go to stderr, nothing to stdout");
      return { psql, lines: run.lines };
    } finally {
      run.child.kill("SIGKILL");
    }
  }

  test("starts, serves /readyz, logs a psql command without the password, stops cleanly on SIGTERM", async () => {
    const { psql, lines } = await startAndStop(/initialising embedded PostgreSQL/);
    assert.match(psql, /^PGPASSFILE=\S+ psql "postgres:\/\/postgres@127\.0\.0\.1:\d+\/ticketing"$/);
    const password = JSON.parse(readFileSync(path.join(cwd, ".data/embedded.json"), "utf8")).password as string;
    assert.ok(!lines.some((l) => l.includes(password)), "the embedded password appears in no log line");
    // The server was stopped with the daemon: its pid file is gone.
    assert.equal(existsSync(path.join(cwd, ".data/postgres/postmaster.pid")), false);
  });

  test("the next start reuses the data, and a stale postmaster.pid from a killed run is recovered", async () => {
    writeFileSync(path.join(cwd, ".data/postgres/postmaster.pid"), "999999\n/nonexistent\n");
    const { lines } = await startAndStop(/removing stale postmaster.pid/);
    assert.ok(
      !lines.some((l) => l.includes("initialising embedded PostgreSQL")),
      "data directory reused, not initialised again",
    );
  });
});
