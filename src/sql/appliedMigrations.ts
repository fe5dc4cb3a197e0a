import type { Queryable } from "./queryable.ts";

/** The migration files (`9-guards.sql`, ...) this database has applied (view ticketing.applied_migrations). */
export async function appliedMigrations(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>("select name from ticketing.applied_migrations");
  return rows.map((r) => r.name);
}
