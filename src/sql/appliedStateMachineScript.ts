import type { Queryable } from "./queryable.ts";

export interface AppliedScript {
  /** sha256 (hex) of the text applied. */
  digest: string;
  /** The error pg-migrations was told to ignore for it, if any. */
  ignoredError: string | null;
}

/**
 * What this database applied as migration 2, as pg-migrations recorded it (its own bookkeeping table, not a
 * `ticketing` one: it is read before our migrations run); undefined before any migration.
 */
export async function appliedStateMachineScript(db: Queryable): Promise<AppliedScript | undefined> {
  const { rows } = await db.query<{ known: boolean }>(
    `select true as known from pg_catalog.pg_tables where schemaname = current_schema() and tablename = 'atdatabases_migrations_applied'`,
  );
  if (!rows[0]) return undefined;
  const { rows: applied } = await db.query<{ digest: string; ignored_error: string | null }>(
    `select encode(sha256(convert_to(script, 'UTF8')), 'hex') as digest, ignored_error
       from atdatabases_migrations_applied where index = 2 and not obsolete`,
  );
  const row = applied[0];
  return row && { digest: row.digest, ignoredError: row.ignored_error };
}
