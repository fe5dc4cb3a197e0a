import { fileURLToPath } from "node:url";
import pgMigrations from "@databases/pg-migrations";
import { runMigrations as runWorkerMigrations } from "graphile-worker";
import type pg from "pg";
import { graphileLogger } from "../graphileLogger.ts";
import type { Logger } from "../logger.ts";
import { appliedStateMachineScript } from "../sql/appliedStateMachineScript.ts";
import { harden } from "../sql/harden.ts";

export const migrationsDirectory = fileURLToPath(new URL("../../sql", import.meta.url));

/**
 * sha256 of sql/2-state-machine.sql as released: its function set a custom setting in its SET clause, which
 * only a superuser may create on PostgreSQL 15+. The file lost that line (the one edit of a released
 * migration, README: migrations) and 9-guards.sql takes it off databases that applied the old text.
 */
const STATE_MACHINE_AS_RELEASED = "c505f2b3d65ca78ecd1d92956f4e1f1256370ed764ead6919189a490b0c8bdc1";

type Connection = ReturnType<typeof pgMigrations.connect>;

/** A database that applied the released text of migration 2 is told, once and for good, that its edit is known. */
async function acceptStateMachineEdit(connection: Connection, pool: pg.Pool): Promise<void> {
  const applied = await appliedStateMachineScript(pool);
  if (!applied || applied.digest !== STATE_MACHINE_AS_RELEASED || applied.ignoredError === "migration_file_edited")
    return;
  await pgMigrations.ignoreError({
    connection,
    migrationsDirectory,
    migrationIndex: 2,
    errorType: "migration_file_edited",
  });
}

/**
 * graphile-worker's migrations first (our SQL calls graphile_worker.add_job), then ours, then
 * ticketing.harden(), which secures whatever the migrations created or replaced. All idempotent: a second
 * run changes nothing. Run as the database owner (or a superuser).
 */
export async function migrate(pool: pg.Pool, connectionString: string, log: Logger): Promise<void> {
  await runWorkerMigrations({ pgPool: pool, logger: graphileLogger(log) });
  const connection = pgMigrations.connect({ connectionString, bigIntMode: "bigint", onQueryStart: () => {} });
  try {
    await acceptStateMachineEdit(connection, pool);
    await pgMigrations.applyMigrations({ connection, migrationsDirectory, dryRun: false });
  } finally {
    await connection.dispose();
  }
  await harden(pool);
  log.info({ migrationsDirectory }, "migrations applied");
}
