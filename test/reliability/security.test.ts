// Security checks: least privilege of the roles the project creates, the guard trigger against each of
// them, SECURITY DEFINER hygiene, the HTTP surface, the embedded PostgreSQL's network exposure, and
// secrets kept out of the logs.
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort } from "../support/cli.ts";
import { startTestDaemon, waitFor } from "../support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrder } from "../support/fixtures.ts";
import { startHttpStub } from "../support/httpStub.ts";
import { type OwnServer, scalar, startCliDaemon, startOwnServer } from "../support/reliability.ts";

const ROLES = ["ticketing_client", "ticketing_reader"] as const;
/** Every group role the project creates for logins (ticketing_engine is internal: it owns the functions). */
const GROUP_ROLES = [...ROLES, "ticketing_daemon", "ticketing_writer", "ticketing_enqueuer"] as const;
/** Read-only reports: what a sweep would expire, a bulk refund's plan (the dry run) and progress. */
const READER_FUNCTIONS = [
  "expiry_backlog",
  "plan_refunds",
  "plan_order_refunds",
  "bulk_refund_progress",
  "latest_operator_actions",
];
const CLIENT_FUNCTIONS = [
  "redeem_ticket",
  "request_refund",
  "request_change",
  "submit_request",
  "request_refunds",
  "request_order_refunds",
  "plan_refunds",
  "plan_order_refunds",
  "bulk_refund_progress",
];

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

/** Runs `setup` then `sql` as `role` in a transaction that is always rolled back; returns the SQLSTATE, or "ok". */
async function asRole(role: string, sql: string, values: unknown[] = [], setup: string[] = []): Promise<string> {
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    await client.query(`set local role ${role}`);
    for (const statement of setup) await client.query(statement);
    await client.query(sql, values);
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? "error";
  } finally {
    await client.query("rollback");
    client.release();
  }
}

/** Non-loopback IPv4 addresses of this machine: what another host would connect to. */
function externalAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .flatMap((a) => (a && a.family === "IPv4" && !a.internal ? [a.address] : []));
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2_000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

describe("least privilege", () => {
  test("the project's roles cannot log in, own nothing, and hold no power beyond their grants", async () => {
    const { rows } = await db.pool.query(
      `select rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,
              (select count(*)::int from pg_auth_members m where m.member = r.oid) as member_of,
              (select count(*)::int from pg_class c where c.relowner = r.oid) as owns
         from pg_roles r where rolname = any($1) order by rolname`,
      [GROUP_ROLES],
    );
    assert.equal(rows.length, GROUP_ROLES.length);
    for (const row of rows) {
      assert.deepEqual(
        { ...row, rolname: undefined },
        {
          rolname: undefined,
          rolcanlogin: false,
          rolsuper: false,
          rolcreaterole: false,
          rolcreatedb: false,
          rolreplication: false,
          rolbypassrls: false,
          member_of: 0,
          owns: 0,
        },
        row.rolname,
      );
      assert.equal(
        await scalar(db.pool, "select has_schema_privilege($1, 'ticketing', 'CREATE')", [row.rolname]),
        false,
        `${row.rolname} may create in ticketing`,
      );
    }
  });

  test("ticketing_reader reads every table and view of the schema and writes none", async () => {
    const { rows: relations } = await db.pool.query<{ name: string; kind: string }>(
      "select c.relname as name, c.relkind::text as kind from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'ticketing' and c.relkind in ('r', 'v', 'm', 'p') order by 1",
    );
    assert.ok(relations.length >= 10);
    for (const { name, kind } of relations) {
      assert.equal(
        await asRole("ticketing_reader", `select * from ticketing.${name} limit 1`),
        "ok",
        `reader reads ${name}`,
      );
      if (kind !== "r") continue;
      for (const privilege of ["INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"]) {
        for (const role of ROLES) {
          assert.equal(
            await scalar(db.pool, "select has_table_privilege($1, $2, $3)", [role, `ticketing.${name}`, privilege]),
            false,
            `${role} has ${privilege} on ${name}`,
          );
        }
      }
      assert.equal(
        await asRole("ticketing_reader", `delete from ticketing.${name}`),
        "42501",
        `reader deletes from ${name}`,
      );
    }
  });

  test("ticketing_reader calls only the read-only reports; ticketing_client exactly the client functions", async () => {
    const { rows } = await db.pool.query<{ fn: string; signature: string }>(
      "select p.proname as fn, p.oid::regprocedure::text as signature from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'ticketing'",
    );
    for (const { fn, signature } of rows) {
      assert.equal(
        await scalar(db.pool, "select has_function_privilege('ticketing_reader', $1, 'EXECUTE')", [signature]),
        READER_FUNCTIONS.includes(fn),
        `reader's EXECUTE on ${signature}`,
      );
      const client = await scalar(db.pool, "select has_function_privilege('ticketing_client', $1, 'EXECUTE')", [
        signature,
      ]);
      assert.equal(client, CLIENT_FUNCTIONS.includes(fn), `client's EXECUTE on ${signature}`);
    }
    const { ticketIds } = await createOrder(db.pool, 1);
    assert.equal(
      await asRole("ticketing_reader", "select ticketing.redeem_ticket($1, 'reader-redeem')", [ticketIds[0]]),
      "42501",
    );
    assert.equal(
      await asRole("ticketing_client", "select ticketing.redeem_ticket($1, 'client-redeem')", [ticketIds[0]]),
      "ok",
    );
  });
});

describe("the guard trigger", () => {
  test("no role the project creates can change a ticket's status outside the state machine, by any route", async () => {
    const { ticketIds } = await createOrder(db.pool, 1);
    const ticket = ticketIds[0];
    for (const role of ROLES) {
      assert.equal(
        await asRole(role, "update ticketing.tickets set status = 'used' where id = $1", [ticket]),
        "42501",
        `${role}: plain update`,
      );
      // The flag the state machine's functions set for themselves is an ordinary setting anyone can set.
      assert.equal(
        await asRole(
          role,
          "update ticketing.tickets set status = 'used' where id = $1",
          [ticket],
          ["set local ticketing.state_machine = 'on'"],
        ),
        "42501",
        `${role}: update with the state machine's flag set`,
      );
      assert.equal(
        await asRole(role, "set session_replication_role = replica"),
        "42501",
        `${role}: disabling triggers`,
      );
      assert.equal(
        await asRole(role, "alter table ticketing.tickets disable trigger tickets_update_guard"),
        "42501",
        `${role}: dropping the guard`,
      );
      assert.equal(
        await asRole(role, "select ticketing.transition_ticket($1, 'used', 'bypass')", [ticket]),
        "42501",
        `${role}: the internal entry point`,
      );
      assert.equal(
        await asRole(
          role,
          "select * from ticketing.apply_transitions(array[$1]::bigint[], 'used', 'bypass', null, '{}')",
          [ticket],
        ),
        "42501",
      );
      assert.equal(
        await asRole(
          role,
          "insert into ticketing.tickets (id, order_id, valid_end, status) values (-1, 1, now(), 'used')",
        ),
        "42501",
      );
    }
    // Even a superuser is stopped by the guard when it bypasses the functions.
    await assert.rejects(db.pool.query("update ticketing.tickets set status = 'used' where id = $1", [ticket]), {
      code: "TL403",
    });
    assert.equal(await scalar(db.pool, "select status from ticketing.tickets where id = $1", [ticket]), "usable");
  });
});

describe("functions", () => {
  test("every SECURITY DEFINER function pins search_path (pg_temp last) and runs no dynamic SQL", async () => {
    const { rows } = await db.pool.query<{
      signature: string;
      config: string[] | null;
      source: string;
      language: string;
    }>(
      `select p.oid::regprocedure::text as signature, p.proconfig as config, p.prosrc as source, l.lanname as language
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
        where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')`,
    );
    assert.ok(rows.length >= 3, "the client functions are SECURITY DEFINER");
    for (const { signature, config, source, language } of rows) {
      const searchPath = (config ?? []).find((c) => c.startsWith("search_path="));
      assert.ok(searchPath, `${signature} has no pinned search_path`);
      const schemas = searchPath
        .slice("search_path=".length)
        .split(",")
        .map((s) => s.trim());
      assert.equal(schemas.at(-1), "pg_temp", `${signature}: pg_temp must come last, or it is searched first`);
      assert.ok(!schemas.includes("public") && !schemas.includes('"$user"'), `${signature}: ${searchPath}`);
      assert.ok(["sql", "plpgsql"].includes(language), `${signature} is written in ${language}`);
      assert.doesNotMatch(source, /\bexecute\b/i, `${signature} runs dynamic SQL`);
    }
  });

  test("no function of the schema builds SQL from its input", async () => {
    // ticketing.harden() takes no input: it builds its statements from the catalog.
    const { rows } = await db.pool.query<{ signature: string }>(
      `select p.oid::regprocedure::text as signature from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'ticketing' and p.pronargs > 0 and p.prosrc ~* '\\mexecute\\M'`,
    );
    assert.deepEqual(rows, []);
  });
});

describe("HTTP endpoints", () => {
  test("only /metrics, /healthz and /readyz answer; nothing else, and no data in them", async () => {
    const port = await freePort();
    const { ticketIds } = await createOrder(db.pool, 1);
    await db.pool.query("select ticketing.redeem_ticket($1, 'very-private-event-id')", [ticketIds[0]]);
    const daemon = await startTestDaemon(db, {
      HTTP_PORT: String(port),
      NOTIFICATION_SECRET: "whsec_czNjcmV0LXNpZ25pbmcta2V5LTAxMjM0NTY3ODk=",
    });
    try {
      const get = (p: string, method = "GET") => fetch(`http://127.0.0.1:${port}${p}`, { method });
      for (const p of ["/metrics", "/healthz", "/readyz"]) assert.equal((await get(p)).status, 200, p);
      for (const p of [
        "/",
        "/metrics/",
        "/metrics.json",
        "/healthz/x",
        "/admin",
        "/debug/pprof",
        "/.env",
        "/%2e%2e/etc/passwd",
        "/status",
        "/jobs",
        "/tickets/1",
      ]) {
        const response = await get(p);
        assert.equal(response.status, 404, p);
        assert.equal(await response.text(), "", `${p} has no body`);
      }
      for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
        const response = await get("/metrics", method);
        assert.ok([404, 405].includes(response.status), `${method} /metrics -> ${response.status}`);
        assert.equal(await response.text(), "");
      }
      const metrics = await (await get("/metrics")).text();
      // (A server with trust authentication has no password to leak.)
      for (const secret of ["very-private-event-id", new URL(db.url).password, "czNjcmV0LXNpZ25pbmcta2V5"].filter(
        Boolean,
      )) {
        assert.ok(!metrics.includes(secret), `/metrics shows ${secret}`);
      }
      for (const address of externalAddresses())
        assert.equal(await connects(address, port), false, `reachable on ${address}`);
    } finally {
      await daemon.stop();
    }
  });
});

describe("the embedded PostgreSQL", () => {
  let own: OwnServer;
  before(async () => {
    own = await startOwnServer("security");
  });
  after(async () => {
    await own.destroy();
  });

  test("listens on 127.0.0.1 only, no Unix socket, password auth, private files", async () => {
    assert.equal(await scalar(own.pool, "show listen_addresses"), "127.0.0.1");
    assert.equal(await scalar(own.pool, "show unix_socket_directories"), "");
    const port = Number(new URL(own.url).port);
    for (const address of externalAddresses())
      assert.equal(await connects(address, port), false, `reachable on ${address}`);
    const hba = await scalar<number>(
      own.pool,
      "select count(*)::int from pg_hba_file_rules where auth_method in ('trust', 'password')",
    );
    assert.equal(hba, 0, "no trust or clear-text password rule");
    const dataDir = await scalar<string>(own.pool, "show data_directory");
    const root = path.dirname(dataDir);
    assert.equal(statSync(dataDir).mode & 0o077, 0, "data directory closed to others");
    for (const file of ["pgpass", "embedded.json"])
      assert.equal(statSync(path.join(root, file)).mode & 0o077, 0, `${file} closed to others`);
  });

  test("secrets never reach the logs: database password, webhook secret", async () => {
    const secret = "whsec_d2ViaG9vay1zaWduaW5nLXNlY3JldC1uZXZlci1sb2dnZWQ=";
    const password = new URL(own.url).password;
    const sink = await startHttpStub((_, i) => ({ status: i < 2 ? 500 : 200 }));
    await own.pool.query("insert into ticketing.orders (id) values (1)");
    await own.pool.query(
      "insert into ticketing.tickets (id, order_id, valid_end) values (1, 1, now() + interval '1 day')",
    );
    const daemon = await startCliDaemon(own.url, {
      LOG_LEVEL: "trace",
      NOTIFICATION_URL: sink.url,
      NOTIFICATION_SECRET: secret,
    });
    try {
      await own.pool.query("select ticketing.redeem_ticket(1, 'gate-1')");
      await waitFor(
        "the events delivered after two failures",
        async () =>
          (await scalar<number>(own.pool, "select count(*)::int from ticketing.outbox where published_at is null")) ===
          0,
        60_000,
      );
      assert.ok(sink.requests.length >= 3);
      assert.ok(
        sink.requests.every((r) => !JSON.stringify(r.headers).includes(secret) && !r.body.includes(secret)),
        "the secret signs, it is never sent",
      );
    } finally {
      assert.equal(await daemon.stop(), 0);
      await sink.close();
    }
    const output = daemon.lines.join("\n");
    assert.ok(daemon.lines.length > 10);
    assert.ok(!output.includes(secret.slice("whsec_".length)), "NOTIFICATION_SECRET in the logs");
    assert.ok(!output.includes(password), "the database password in the logs");
    assert.ok(!output.includes(encodeURIComponent(password)), "the database password (URL-encoded) in the logs");
  });
});
