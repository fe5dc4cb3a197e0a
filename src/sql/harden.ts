import type { Queryable } from "./queryable.ts";

/** Secures whatever the migrations created or replaced (sql/9-guards.sql): owners, SECURITY DEFINER, guards, grants. */
export async function harden(db: Queryable): Promise<void> {
  await db.query("select ticketing.harden()");
}
