import { migrate } from "../db/migrate.ts";
import { openDatabase } from "../db/openDatabase.ts";
import type { CommandContext } from "./commandContext.ts";

export async function migrateCommand({ env, log }: CommandContext): Promise<number> {
  const db = await openDatabase(env, log, 2);
  try {
    await migrate(db.pool, db.connectionString, log);
    return 0;
  } finally {
    await db.close();
  }
}
