import { fileURLToPath } from "node:url";
import pgMigrations from "@databases/pg-migrations";
import { runMigrations as runWorkerMigrations } from "graphile-worker";
import type pg from "pg";
import { graphileLogger } from "../graphileLogger.ts";
import type { Logger } from "../logger.ts";

const migrationsDirectory = fileURLToPath(new URL("../../sql", import.meta.url));

/**
 * graphile-worker's migrations first (our SQL calls graphile_worker.add_job), then ours. Both are
 * idempotent: a second run applies nothing.
 */
export async function migrate(pool: pg.Pool, connectionString: string, log: Logger): Promise<void> {
  await runWorkerMigrations({ pgPool: pool, logger: graphileLogger(log) });
  const connection = pgMigrations.connect({ connectionString, bigIntMode: "bigint", onQueryStart: () => {} });
  try {
    await pgMigrations.applyMigrations({ connection, migrationsDirectory, dryRun: false });
  } finally {
    await connection.dispose();
  }
  log.info({ migrationsDirectory }, "migrations applied");
}
