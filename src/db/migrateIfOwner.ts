import type pg from "pg";
import type { Logger } from "../logger.ts";
import { canMigrate } from "../sql/canMigrate.ts";
import { checkSchema } from "./checkSchema.ts";
import { migrate } from "./migrate.ts";

/** The owner (or a superuser) migrates; any other login, ticketing_daemon's say, needs a current schema. */
export async function migrateIfOwner(pool: pg.Pool, connectionString: string, log: Logger): Promise<void> {
  if (await canMigrate(pool)) await migrate(pool, connectionString, log);
  else await checkSchema(pool);
}
