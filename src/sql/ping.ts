import type { Queryable } from "./queryable.ts";

/** One round trip to the database: throws when it cannot be reached (the readiness check). */
export async function ping(db: Queryable): Promise<void> {
  await db.query("select 1");
}
