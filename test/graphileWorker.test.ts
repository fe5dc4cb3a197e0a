// What this project relies on inside graphile-worker's schema, named in one place: the private tables'
// columns (read by the operator views, the lifeline's rescue and the job cleaner) and the functions the
// SQL calls with named arguments. An upgrade of graphile-worker that changes any of them fails here first.
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
    "updated_at",
    "key",
  ],
  _private_tasks: ["id", "identifier"],
  _private_job_queues: ["id", "queue_name", "locked_at", "locked_by"],
};

const FUNCTIONS: Record<string, string[]> = {
  add_job: ["identifier", "payload", "queue_name", "run_at", "max_attempts", "job_key", "job_key_mode"],
  force_unlock_workers: ["worker_ids"],
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
