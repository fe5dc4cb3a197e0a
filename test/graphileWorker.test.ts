// What this project relies on inside graphile-worker's schema, named in one place: the private tables'
// columns (read by sql/15-worker-boundary.sql only: its views and its three lock functions) and the functions
// the SQL calls with named arguments. An upgrade of graphile-worker that changes any of them fails here first.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";

const COLUMNS: Record<string, string[]> = {
  _private_jobs: [
    "id",
    "task_id",
    "job_queue_id",
    "payload",
    "run_at",
    "attempts",
    "max_attempts",
    "locked_at",
    "locked_by",
    "last_error",
    "created_at",
    "updated_at",
    "key",
  ],
  _private_tasks: ["id", "identifier"],
  _private_job_queues: ["id", "queue_name", "locked_at", "locked_by"],
};

const FUNCTIONS: Record<string, string[]> = {
  add_job: ["identifier", "payload", "queue_name", "run_at", "max_attempts", "job_key", "job_key_mode"],
  complete_jobs: ["job_ids"],
  force_unlock_workers: ["worker_ids"],
  remove_job: ["job_key"],
  reschedule_jobs: ["job_ids", "run_at", "attempts"],
};

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

test("graphile_worker's private tables have every column the ticketing SQL reads", async () => {
  const { rows } = await db.pool.query<{ table_name: string; column_name: string }>(
    `select table_name, column_name from information_schema.columns
      where table_schema = 'graphile_worker' and table_name = any($1)`,
    [Object.keys(COLUMNS)],
  );
  for (const [table, columns] of Object.entries(COLUMNS)) {
    const present = new Set(rows.filter((r) => r.table_name === table).map((r) => r.column_name));
    assert.deepEqual(
      columns.filter((c) => !present.has(c)),
      [],
      `graphile_worker.${table} lacks columns`,
    );
  }
});

test("graphile_worker's functions take the named arguments the ticketing SQL passes", async () => {
  const { rows } = await db.pool.query<{ proname: string; args: string[] | null }>(
    `select p.proname, p.proargnames as args from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = 'graphile_worker' and p.proname = any($1)`,
    [Object.keys(FUNCTIONS)],
  );
  for (const [name, args] of Object.entries(FUNCTIONS)) {
    const overloads = rows.filter((r) => r.proname === name);
    assert.ok(overloads.length > 0, `graphile_worker.${name} is missing`);
    assert.ok(
      overloads.some((r) => args.every((a) => r.args?.includes(a))),
      `no graphile_worker.${name} takes (${args.join(", ")})`,
    );
  }
});

/** The objects of sql/15-worker-boundary.sql, and harden(), which names the tables for privileges only. */
const BOUNDARY_FUNCTIONS = ["harden", "lock_worker_jobs", "unlock_worker_jobs", "unlock_worker_queues"];
const BOUNDARY_VIEWS = ["worker_job_queues", "worker_jobs", "worker_tasks"];

test("only the boundary file touches graphile_worker's private tables", async () => {
  const { rows: functions } = await db.pool.query<{ proname: string }>(
    `select p.proname from pg_proc p
      where p.pronamespace = 'ticketing'::regnamespace and p.prosrc ~ 'graphile_worker\\._private_'
      order by 1`,
  );
  assert.deepEqual(
    functions.map((f) => f.proname),
    BOUNDARY_FUNCTIONS,
  );
  const { rows: views } = await db.pool.query<{ view: string }>(
    `select distinct v.relname as view
       from pg_depend d
       join pg_rewrite w on w.oid = d.objid
       join pg_class v on v.oid = w.ev_class
       join pg_class t on t.oid = d.refobjid
      where v.relnamespace = 'ticketing'::regnamespace and t.relnamespace = 'graphile_worker'::regnamespace
        and t.relname like '\\_private\\_%' and v.oid <> t.oid
      order by 1`,
  );
  assert.deepEqual(
    views.map((v) => v.view),
    BOUNDARY_VIEWS,
  );
});
