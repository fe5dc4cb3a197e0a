import pg from "pg";
import type { Queryable } from "./queryable.ts";

/** Creates `database` on the server `db` is connected to, unless it exists (the embedded server's first start). */
export async function createDatabaseIfMissing(db: Queryable, database: string): Promise<void> {
  const { rowCount } = await db.query("select 1 from pg_database where datname = $1", [database]);
  if (!rowCount) await db.query(`create database ${pg.escapeIdentifier(database)}`);
}
