// Integrity by construction: deployed on a fresh database by an owner with CREATEROLE and nothing more (as a
// managed PostgreSQL gives you), every invariant holds against a hostile login that holds every privilege on
// every ticketing table, by every route: a setting, its own SECURITY DEFINER function, column updates,
// inserts, deletes, truncates, its own trigger. And each of the project's roles does its job as itself.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { migrationsDirectory } from "../../src/db/migrate.ts";
import { runCli } from "../support/cli.ts";
import { startTestDaemon, waitFor } from "../support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { asEngine } from "../support/engine.ts";
import { freshId } from "../support/fixtures.ts";
import { scalar } from "../support/reliability.ts";

const HOSTILE = "ticketing_test_hostile";

let db: TestDatabase;
let hostile: pg.Pool;
const ids = { open: 0, completed: 0, cancelled: 0, usable: 0, used: 0, other: 0 };

function urlOf(login: string): string {
  const url = new URL(db.url);
  url.username = login;
  url.password = process.env.TEST_LOGIN_PASSWORD ?? "";
  return url.toString();
}

/** A pool on this database as `login`, ended with the others by `db.drop()`. */
function poolAs(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on("error", () => {});
  return pool;
}

async function sqlState(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/** Runs the statements as the hostile login in one transaction; returns the SQLSTATE of the first failure, or "ok". */
async function attack(...statements: string[]): Promise<string> {
  const client = await hostile.connect();
  try {
    await client.query("begin");
    for (const statement of statements) await client.query(statement);
    await client.query("commit");
    return "ok";
  } catch (error) {
    await client.query("rollback");
    return (error as { code?: string }).code ?? String(error);
  } finally {
    client.release();
  }
}

/** Every row of every ticketing table, so an attack that was refused is seen to have changed nothing. */
async function everything(): Promise<unknown> {
  const { rows } = await db.pool.query<{ name: string }>(
    "select c.relname as name from pg_class c where c.relnamespace = 'ticketing'::regnamespace and c.relkind = 'r' order by 1",
  );
  const tables: Record<string, unknown> = {};
  for (const { name } of rows) {
    tables[name] = (
      await db.pool.query(
        `select coalesce(jsonb_agg(to_jsonb(t) order by to_jsonb(t)::text), '[]') as rows from ticketing.${name} t`,
      )
    ).rows[0].rows;
  }
  return tables;
}

before(async () => {
  db = await createTestDatabase({ empty: true });
  const migrate = runCli(["migrate"], { env: { DATABASE_URL: db.urlAs("owner") } });
  assert.equal(await migrate.exit, 0, migrate.lines.join("\n"));

  // Every privilege on every table of the schema, TRUNCATE and TRIGGER included, and a schema of its own.
  await db.pool.query(`do $$ begin
      if not exists (select 1 from pg_roles where rolname = '${HOSTILE}') then create role ${HOSTILE}; end if;
    end $$`);
  await db.pool.query(`alter role ${HOSTILE} login password '${process.env.TEST_LOGIN_PASSWORD}'`);
  await db.pool.query(`grant usage on schema ticketing to ${HOSTILE}`);
  await db.pool.query(`grant all on all tables in schema ticketing to ${HOSTILE}`);
  await db.pool.query(`create schema hostile authorization ${HOSTILE}`);
  hostile = poolAs(urlOf(HOSTILE));

  // An open order (a usable and a used ticket), a completed one, a cancelled one, a pending refund request.
  ids.open = freshId();
  ids.completed = freshId();
  ids.cancelled = freshId();
  ids.usable = freshId();
  ids.used = freshId();
  ids.other = freshId();
  const completedTicket = freshId();
  const cancelledTicket = freshId();
  await db.pool.query("insert into ticketing.orders (id) values ($1), ($2), ($3)", [
    ids.open,
    ids.completed,
    ids.cancelled,
  ]);
  await db.pool.query(
    `insert into ticketing.tickets (id, order_id, valid_end)
     values ($1, $4, now() + interval '1 day'), ($2, $4, now() + interval '1 day'), ($3, $4, now() + interval '1 day'),
            ($5, $6, now() + interval '1 day'), ($7, $8, now() + interval '1 day')`,
    [ids.usable, ids.used, ids.other, ids.open, completedTicket, ids.completed, cancelledTicket, ids.cancelled],
  );
  await db.pool.query("select ticketing.transition_ticket($1, 'used', 'gate-1')", [ids.used]);
  await db.pool.query("select ticketing.transition_ticket($1, 'used', 'gate-2')", [completedTicket]);
  await db.pool.query("select ticketing.transition_ticket($1, 'refunded', 'refund-2')", [cancelledTicket]);
  await db.pool.query("select ticketing.request_refund($1, 'refund-pending')", [ids.other]);
});

after(async () => {
  await hostile?.end();
  await db.drop();
});

describe("deployment", () => {
  test("migrate ran as an owner that is no superuser and holds no privilege only a superuser grants", async () => {
    const { rows } = await db.pool.query(
      `select r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
              pg_get_userbyid(d.datdba) as owner
         from pg_database d join pg_roles r on r.oid = d.datdba where d.datname = current_database()`,
    );
    assert.deepEqual(rows[0], {
      rolsuper: false,
      rolcreaterole: true,
      rolcreatedb: false,
      rolreplication: false,
      rolbypassrls: false,
      owner: "ticketing_test_owner",
    });
    const files = readdirSync(migrationsDirectory).filter((f) => /^\d+-.+\.sql$/.test(f));
    assert.equal(await scalar(db.pool, "select count(*)::int from ticketing.applied_migrations"), files.length);
    // The old guard's setting appears in no function: nothing here needs a superuser to create.
    assert.equal(
      await scalar(
        db.pool,
        "select count(*)::int from pg_proc where pronamespace = 'ticketing'::regnamespace and array_to_string(proconfig, ',') like '%ticketing.%'",
      ),
      0,
    );
  });
});

describe("a hostile login with every table privilege", () => {
  test("a setting does not switch the guard off: status and seq stay the state machine's", async () => {
    const before = await everything();
    for (const write of [
      `update ticketing.tickets set status = 'usable', seq = 0 where id = ${ids.used}`,
      `update ticketing.tickets set status = 'used' where id = ${ids.usable}`,
      `update ticketing.tickets set seq = seq + 1 where id = ${ids.usable}`,
    ]) {
      assert.equal(await attack("set local ticketing.state_machine = 'on'", write), "TL403", write);
      assert.equal(await attack(write), "TL403", write);
    }
    assert.deepEqual(await everything(), before);
  });

  test("its own SECURITY DEFINER function writes with its own rights, so it is refused the same", async () => {
    assert.equal(
      await attack(
        `create or replace function hostile.reset_ticket(p_id bigint) returns void language sql security definer
           set ticketing.state_machine = 'on' as $$ update ticketing.tickets set status = 'usable', seq = 0 where id = p_id $$`,
      ),
      "42501",
      "a placeholder setting in a SET clause needs a superuser",
    );
    assert.equal(
      await attack(
        `create or replace function hostile.reset_ticket(p_id bigint) returns void language sql security definer
           as $$ update ticketing.tickets set status = 'usable', seq = 0 where id = p_id $$`,
      ),
      "ok",
    );
    const before = await everything();
    assert.equal(await attack(`select hostile.reset_ticket(${ids.used})`), "TL403");
    assert.equal(await attack("set role ticketing_engine"), "42501");
    assert.deepEqual(await everything(), before);
  });

  test("column updates: a ticket's order, an order's status and dates", async () => {
    const before = await everything();
    for (const write of [
      `update ticketing.tickets set order_id = ${ids.completed} where id = ${ids.usable}`,
      `update ticketing.tickets set valid_end = now() - interval '1 day' where id = ${ids.used}`,
      `update ticketing.orders set status = 'completed', completed_at = now() where id = ${ids.open}`,
      `update ticketing.orders set status = 'open', completed_at = null where id = ${ids.completed}`,
      `update ticketing.orders set cancelled_at = null where id = ${ids.cancelled}`,
      `update ticketing.orders set id = id + 1000000 where id = ${ids.open}`,
    ]) {
      assert.equal(await attack(write), "TL403", write);
    }
    assert.deepEqual(await everything(), before);
  });

  test("inserts: audit, outbox, requests, alerts, the state machine's own tables, a non-usable ticket, a closed order", async () => {
    const before = await everything();
    const ticket = freshId();
    for (const write of [
      `insert into ticketing.ticket_status_audit (ticket_id, seq, prev_status, new_status, event_id) values (${ids.usable}, 1, 'usable', 'used', 'forged')`,
      `insert into ticketing.outbox (event_id, type, payload) values ('forged', 'ticket.used', '{}')`,
      `insert into ticketing.ticket_requests (event_id, kind, ticket_id, status) values ('forged', 'refund', ${ids.usable}, 'succeeded')`,
      `insert into ticketing.alerts (key, kind, message) values ('forged', 'forged', 'forged')`,
      `insert into ticketing.job_health (task) values ('forged')`,
      `insert into ticketing.daemon_heartbeats (daemon_id, pid, host, started_at, last_seen_at) values ('forged', 1, 'h', now(), now())`,
      `insert into ticketing.job_rescues (job_id, task_identifier, locked_by, reason, rescues, attempt_returned) values (1, 'x', 'x', 'daemon_dead', 1, true)`,
      `insert into ticketing.ticket_statuses (status, terminal) values ('forged', false)`,
      `insert into ticketing.transitions (from_status, to_status, event_type) values ('used', 'usable', 'ticket.forged')`,
      `insert into ticketing.tickets (id, order_id, valid_end, status) values (${ticket}, ${ids.open}, now(), 'used')`,
      `insert into ticketing.tickets (id, order_id, valid_end, seq) values (${ticket}, ${ids.open}, now(), 3)`,
      `insert into ticketing.tickets (id, order_id, valid_end) values (${ticket}, ${ids.completed}, now() + interval '1 day')`,
      `insert into ticketing.tickets (id, order_id, valid_end) values (${ticket}, ${ids.cancelled}, now() + interval '1 day')`,
      `insert into ticketing.orders (id, status) values (${ticket}, 'completed')`,
      `insert into ticketing.orders (id, completed_at) values (${ticket}, now())`,
    ]) {
      assert.equal(await attack(write), "TL403", write);
    }
    assert.deepEqual(await everything(), before);
  });

  test("updates and deletes of the audit, the outbox, the requests; deletes of tickets and orders with tickets", async () => {
    const before = await everything();
    for (const write of [
      "update ticketing.ticket_status_audit set new_status = 'refunded'",
      "delete from ticketing.ticket_status_audit",
      "update ticketing.outbox set published_at = now()",
      "delete from ticketing.outbox where published_at is null",
      "update ticketing.ticket_requests set status = 'succeeded', finished_at = now()",
      "delete from ticketing.ticket_requests",
      "update ticketing.alerts set cleared_at = now()",
      "delete from ticketing.transitions",
      "update ticketing.ticket_statuses set terminal = false",
      `delete from ticketing.tickets where id = ${ids.usable}`,
      `delete from ticketing.orders where id = ${ids.open}`,
    ]) {
      assert.equal(await attack(write), "TL403", write);
    }
    assert.deepEqual(await everything(), before);
  });

  test("the audit is append-only for the engine itself: no ticketing function can rewrite history", async () => {
    const before = await everything();
    for (const write of [
      "update ticketing.ticket_status_audit set new_status = 'refunded'",
      "delete from ticketing.ticket_status_audit",
    ]) {
      assert.equal(await sqlState(asEngine(db.pool, write)), "TL403", write);
    }
    assert.deepEqual(await everything(), before);
  });

  test("TRUNCATE of every ticketing table", async () => {
    const before = await everything();
    const { rows } = await db.pool.query<{ name: string }>(
      "select c.relname as name from pg_class c where c.relnamespace = 'ticketing'::regnamespace and c.relkind = 'r'",
    );
    assert.ok(rows.length >= 11);
    for (const { name } of rows) assert.equal(await attack(`truncate ticketing.${name} cascade`), "TL403", name);
    assert.deepEqual(await everything(), before);
  });

  test("its own trigger on a ticketing table: every ticketing function refuses to write it until it is gone; migrate takes TRIGGER back", async () => {
    assert.equal(
      await attack(
        `create function hostile.reopen() returns trigger language plpgsql as $$
           begin update ticketing.orders set status = 'open', completed_at = null where id = ${ids.completed}; return new; end $$`,
        "create trigger a_reopen before update on ticketing.tickets for each row execute function hostile.reopen()",
      ),
      "ok",
    );
    const before = await everything();
    const redeem = db.pool.query("select ticketing.redeem_ticket($1, 'gate-3')", [ids.usable]);
    assert.equal(await sqlState(redeem), "TL403");
    assert.deepEqual(await everything(), before);

    // migrate takes TRIGGER and REFERENCES back from every role; the owner drops the trigger.
    const again = runCli(["migrate"], { env: { DATABASE_URL: db.urlAs("owner") } });
    assert.equal(await again.exit, 0, again.lines.join("\n"));
    assert.equal(
      await scalar(db.pool, "select has_table_privilege($1, 'ticketing.tickets', 'TRIGGER')", [HOSTILE]),
      false,
    );
    assert.equal(
      await scalar(db.pool, "select has_table_privilege($1, 'ticketing.orders', 'REFERENCES')", [HOSTILE]),
      false,
    );
    await db.pool.query("drop trigger a_reopen on ticketing.tickets");
    assert.equal(await scalar(db.pool, "select ticketing.redeem_ticket($1, 'gate-3')", [ids.usable]), "applied");
    await db.pool.query(`grant all on all tables in schema ticketing to ${HOSTILE}`);
  });

  test("its own trigger on a graphile_worker table, which the engine's functions write: refused the same; migrate takes TRIGGER and TRUNCATE back", async () => {
    await db.pool.query(`grant usage on schema graphile_worker to ${HOSTILE}`);
    await db.pool.query(`grant all on all tables in schema graphile_worker to ${HOSTILE}`);
    assert.equal(
      await attack(
        `create function hostile.on_job() returns trigger language plpgsql as $$
           begin update ticketing.tickets set status = 'expired', seq = seq + 100 where id = ${ids.usable}; return null; end $$`,
        "create trigger a_on_job after insert on graphile_worker._private_jobs for each statement execute function hostile.on_job()",
      ),
      "ok",
    );
    const before = await everything();
    // Each of these writes a ticketing table and queues a job: with the trigger there, none writes anything.
    assert.equal(
      await sqlState(db.pool.query("select ticketing.request_refund($1, 'gw-trigger')", [ids.usable])),
      "TL403",
    );
    assert.equal(await sqlState(db.pool.query("select ticketing.redeem_ticket($1, 'gw-gate')", [ids.usable])), "TL403");
    assert.equal(await sqlState(db.pool.query("select ticketing.queue_sweep()")), "TL403");
    assert.deepEqual(await everything(), before);

    const again = runCli(["migrate"], { env: { DATABASE_URL: db.urlAs("owner") } });
    assert.equal(await again.exit, 0, again.lines.join("\n"));
    for (const privilege of ["TRIGGER", "TRUNCATE"])
      assert.equal(
        await scalar(db.pool, "select has_table_privilege($1, 'graphile_worker._private_jobs', $2)", [
          HOSTILE,
          privilege,
        ]),
        false,
        privilege,
      );
    await db.pool.query("drop trigger a_on_job on graphile_worker._private_jobs");
    assert.equal(await scalar(db.pool, "select ticketing.request_refund($1, 'gw-trigger')", [ids.usable]), "queued");
    await db.pool.query(`revoke all on all tables in schema graphile_worker from ${HOSTILE}`);
  });

  test("a ticket added to an order while a REPEATABLE READ client finishes its last known ticket: never an order completed with a usable ticket", async () => {
    const order = freshId();
    const [last, late] = [freshId(), freshId()];
    await db.pool.query("insert into ticketing.orders (id) values ($1)", [order]);
    await db.pool.query(
      "insert into ticketing.tickets (id, order_id, valid_end) values ($1, $2, now() + interval '1 day')",
      [last, order],
    );
    const client = new pg.Client({ connectionString: db.urlAs("client") });
    await client.connect();
    try {
      await client.query("begin isolation level repeatable read");
      await client.query("select 1");
      await db.pool.query(
        "insert into ticketing.tickets (id, order_id, valid_end) values ($1, $2, now() + interval '1 day')",
        [late, order],
      );
      assert.equal(await sqlState(client.query("select ticketing.redeem_ticket($1, 'rr-late')", [last])), "40001");
      await client.query("rollback");
    } finally {
      await client.end();
    }
    assert.equal(await scalar(db.pool, "select status from ticketing.orders where id = $1", [order]), "open");
    assert.equal(await scalar(db.pool, "select ticketing.redeem_ticket($1, 'rr-late')", [last]), "applied");
    assert.equal(await scalar(db.pool, "select status from ticketing.orders where id = $1", [order]), "open");
  });

  test("a validity is finite: infinity is refused for a new ticket", async () => {
    const order = freshId();
    await db.pool.query("insert into ticketing.orders (id) values ($1)", [order]);
    assert.equal(
      await sqlState(
        db.pool.query("insert into ticketing.tickets (id, order_id, valid_end) values ($1, $2, 'infinity')", [
          freshId(),
          order,
        ]),
      ),
      "23514",
    );
  });

  test("what a service may do stays possible: an open order, usable tickets into it, a live ticket's valid_end", async () => {
    const order = freshId();
    const ticket = freshId();
    assert.equal(await attack(`insert into ticketing.orders (id) values (${order})`), "ok");
    assert.equal(
      await attack(
        `insert into ticketing.tickets (id, order_id, valid_end) values (${ticket}, ${order}, now() + interval '1 day')`,
      ),
      "ok",
    );
    assert.equal(
      await attack(`update ticketing.tickets set valid_end = now() + interval '2 days' where id = ${ticket}`),
      "ok",
    );
    // an order with no tickets may go again (nothing refers to it)
    const empty = freshId();
    assert.equal(await attack(`insert into ticketing.orders (id) values (${empty})`), "ok");
    assert.equal(await attack(`delete from ticketing.orders where id = ${empty}`), "ok");
  });

  // The snapshot still shows the order open; the foreign-key check's KEY SHARE lock on it conflicts with the
  // FOR UPDATE recompute_orders took, and at REPEATABLE READ that is a serialization failure.
  test("a ticket added at REPEATABLE READ to an order that completed since its snapshot is refused", async () => {
    const order = freshId();
    const last = freshId();
    const late = freshId();
    await db.pool.query("insert into ticketing.orders (id) values ($1)", [order]);
    await db.pool.query(
      "insert into ticketing.tickets (id, order_id, valid_end) values ($1, $2, now() + interval '1 day')",
      [last, order],
    );
    const writer = new pg.Client({ connectionString: db.urlAs("writer") });
    await writer.connect();
    try {
      await writer.query("begin isolation level repeatable read");
      assert.equal(await scalar(writer, "select status from ticketing.orders where id = $1", [order]), "open");
      assert.equal(await scalar(db.pool, "select ticketing.redeem_ticket($1, 'rr-gate')", [last]), "applied");
      const code = await sqlState(
        writer.query(
          "insert into ticketing.tickets (id, order_id, valid_end) values ($1, $2, now() + interval '1 day')",
          [late, order],
        ),
      );
      assert.ok(["40001", "TL403"].includes(code), code);
      await writer.query("rollback");
    } finally {
      await writer.end();
    }
    assert.equal(await scalar(db.pool, "select status from ticketing.orders where id = $1", [order]), "completed");
    assert.equal(await scalar(db.pool, "select count(*)::int from ticketing.tickets where id = $1", [late]), 0);
  });

  test("the owner and a superuser are refused like anyone below the engine", async () => {
    const owner = poolAs(db.urlAs("owner"));
    try {
      assert.equal(
        await sqlState(
          owner.query("update ticketing.tickets set status = 'usable', seq = 0 where id = $1", [ids.used]),
        ),
        "TL403",
      );
      assert.equal(await sqlState(owner.query("delete from ticketing.ticket_status_audit")), "TL403");
    } finally {
      await owner.end();
    }
    assert.equal(await sqlState(db.pool.query("truncate ticketing.outbox")), "TL403");
    assert.equal(await sqlState(db.pool.query("update ticketing.outbox set published_at = now()")), "TL403");
  });
});

describe("each role does its job as itself", () => {
  test("ticketing_client: the client functions", async () => {
    const client = poolAs(db.urlAs("client"));
    try {
      const order = freshId();
      const [a, b, c] = [freshId(), freshId(), freshId()];
      await db.pool.query("insert into ticketing.orders (id) values ($1)", [order]);
      await db.pool.query(
        "insert into ticketing.tickets (id, order_id, valid_end) select id, $1, now() + interval '1 day' from unnest($2::bigint[]) id",
        [order, [a, b, c]],
      );
      assert.equal(await scalar(client, "select ticketing.redeem_ticket($1, 'client-gate')", [a]), "applied");
      assert.equal(await scalar(client, "select ticketing.request_refund($1, 'client-refund')", [b]), "queued");
      assert.equal(
        await scalar(
          client,
          "select ticketing.request_change($1, 'client-change', jsonb_build_object('valid_end', now() + interval '30 days'))",
          [c],
        ),
        "queued",
      );
      assert.equal(await sqlState(client.query("select ticketing.transition_ticket($1, 'used', 'x')", [b])), "42501");
    } finally {
      await client.end();
    }
  });

  test("ticketing_writer: orders and tickets in, valid_end moved, nothing else", async () => {
    const writer = poolAs(db.urlAs("writer"));
    try {
      const order = freshId();
      const ticket = freshId();
      await writer.query("insert into ticketing.orders (id) values ($1)", [order]);
      await writer.query(
        "insert into ticketing.tickets (id, order_id, valid_end) values ($1, $2, now() + interval '1 day')",
        [ticket, order],
      );
      await writer.query("update ticketing.tickets set valid_end = now() + interval '3 days' where id = $1", [ticket]);
      assert.equal(
        await sqlState(writer.query("update ticketing.tickets set status = 'used' where id = $1", [ticket])),
        "42501",
      );
      assert.equal(await sqlState(writer.query("delete from ticketing.orders where id = $1", [order])), "42501");
    } finally {
      await writer.end();
    }
  });

  test("ticketing_reader: status and expire --dry-run, which never migrate", async () => {
    const status = runCli(["status", "--json"], { env: { DATABASE_URL: db.urlAs("reader") } });
    assert.equal(await status.exit, 0, status.lines.join("\n"));
    const report = JSON.parse(status.lines.join("\n"));
    assert.ok(report.tickets.used >= 2);
    const dry = runCli(["expire", "--dry-run"], { env: { DATABASE_URL: db.urlAs("reader") } });
    assert.equal(await dry.exit, 0, dry.lines.join("\n"));
    assert.ok(
      dry.lines.some((l) => /ticket\(s\) would expire now/.test(l)),
      dry.lines.join("\n"),
    );
  });

  test("status on a database that is not migrated: one line naming migrate, and nothing created", async () => {
    const bare = await createTestDatabase({ empty: true });
    try {
      for (const args of [["status"], ["expire", "--dry-run"]]) {
        const run = runCli(args, { env: { DATABASE_URL: bare.urlAs("owner") } });
        assert.equal(await run.exit, 1);
        const errors = run.lines.filter((l) => l.startsWith("ticket-lifecycle:"));
        assert.equal(errors.length, 1, run.lines.join("\n"));
        assert.match(errors[0] as string, /run `ticket-lifecycle migrate`/);
      }
      assert.equal(await scalar(bare.pool, "select count(*)::int from pg_namespace where nspname = 'ticketing'"), 0);
    } finally {
      await bare.drop();
    }
  });

  test("ticketing_daemon: the daemon runs the sweep as a login in it", async () => {
    const order = freshId();
    const ticket = freshId();
    await db.pool.query("insert into ticketing.orders (id) values ($1)", [order]);
    await db.pool.query(
      "insert into ticketing.tickets (id, order_id, valid_end) values ($1, $2, now() - interval '1 minute')",
      [ticket, order],
    );
    const daemon = await startTestDaemon(db);
    try {
      assert.equal(await scalar(db.pool, "select ticketing.queue_sweep() is not null"), true);
      await waitFor(
        "the sweep",
        async () =>
          (await scalar<string>(db.pool, "select status from ticketing.tickets where id = $1", [ticket])) === "expired",
      );
      assert.equal(await scalar(db.pool, "select status from ticketing.orders where id = $1", [order]), "completed");
    } finally {
      await daemon.stop();
    }
  });

  test("ticketing_enqueuer: graphile_worker.add_job and nothing of the ticketing schema", async () => {
    const enqueuer = poolAs(db.urlAs("enqueuer"));
    try {
      const id = await scalar(
        enqueuer,
        "select id from graphile_worker.add_job('check_order', '{\"order_id\": 1}', run_at => now() + interval '1 day')",
      );
      assert.ok(id);
      assert.equal(await sqlState(enqueuer.query("select count(*) from ticketing.tickets")), "42501");
      assert.equal(await sqlState(enqueuer.query("select ticketing.queue_sweep()")), "42501");
    } finally {
      await enqueuer.end();
    }
  });
});
