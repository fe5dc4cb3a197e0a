import type pg from "pg";
import { z } from "zod";
import { ConfigError } from "../config/env.ts";
import { formatZodError } from "../config/formatZodError.ts";
import { openDatabase } from "../db/database.ts";
import type { CommandContext } from "./index.ts";

/** Runs `body` with a small pool on the configured database (it must be migrated: the daemon does that). */
export async function withDatabase<T>(ctx: CommandContext, body: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const db = await openDatabase(ctx.env, ctx.log, 2);
  try {
    return await body(db.pool);
  } finally {
    await db.close();
  }
}

export const decimalId = z.string().regex(/^\d{1,19}$/, "must be a decimal id");

/** Checks a command's options against `schema`; a bad one is a one-line error naming it. */
export function parseOptions<T extends z.ZodType>(schema: T, options: unknown): z.infer<T> {
  const parsed = schema.safeParse(options);
  if (!parsed.success) throw new ConfigError(`invalid option: ${formatZodError(parsed.error)}`);
  return parsed.data;
}
