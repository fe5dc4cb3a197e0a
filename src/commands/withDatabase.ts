import type pg from "pg";
import { openDatabase } from "../db/openDatabase.ts";
import type { CommandContext } from "./commandContext.ts";

/** Runs `body` with a small pool on the configured database (it must be migrated: the daemon does that). */
export async function withDatabase<T>(ctx: CommandContext, body: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const db = await openDatabase(ctx.env, ctx.log, 2);
  try {
    return await body(db.pool);
  } finally {
    await db.close();
  }
}
