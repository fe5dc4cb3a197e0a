import type { Queryable } from "./queryable.ts";

/**
 * Whether this connection may migrate: it owns the database (or is a superuser). A catalog read, not a
 * `ticketing` function: it is asked before the first migration, when there is no schema to hold one.
 */
export async function canMigrate(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ owner: boolean }>(
    "select pg_has_role(current_user, d.datdba, 'USAGE') as owner from pg_database d where d.datname = current_database()",
  );
  return rows[0]?.owner === true;
}
