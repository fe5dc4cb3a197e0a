// The commands that only read (status, expire --dry-run) and a daemon connecting as ticketing_daemon never
// migrate: they check that the database has applied every migration in sql/, and name `migrate` when not.
import { readdirSync } from "node:fs";
import type pg from "pg";
import type { Logger } from "../logger.ts";
import type { Queryable } from "../sql/queryable.ts";
import { migrate, migrationsDirectory } from "./migrate.ts";

/** The schema is missing or older than this code: one line, naming the command that fixes it. */
export class SchemaNotReady extends Error {}

const MIGRATION_FILE = /^\d+-.+\.sql$/;

/** Whether this connection may migrate: it owns the database (or is a superuser). */
export async function canMigrate(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ owner: boolean }>(
    "select pg_has_role(current_user, d.datdba, 'USAGE') as owner from pg_database d where d.datname = current_database()",
  );
  return rows[0]?.owner === true;
}

/** Throws SchemaNotReady unless every file of sql/ is applied. */
export async function checkSchema(db: Queryable): Promise<void> {
  const files = readdirSync(migrationsDirectory).filter((f) => MIGRATION_FILE.test(f));
  let applied: Set<string>;
  try {
    const { rows } = await db.query<{ name: string }>("select name from ticketing.applied_migrations");
    applied = new Set(rows.map((r) => r.name));
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "42P01" || code === "3F000")
      throw new SchemaNotReady(
        "the database has no ticketing schema (or one older than 9-guards.sql): run `ticket-lifecycle migrate` as the database owner",
      );
    if (code === "42501")
      throw new SchemaNotReady(
        "this login cannot read ticketing.applied_migrations: grant it ticketing_reader (README: deployment), or run `ticket-lifecycle migrate` as the database owner first",
      );
    throw error;
  }
  const missing = files.filter((f) => !applied.has(f));
  if (missing.length > 0)
    throw new SchemaNotReady(
      `the database schema is out of date (not applied: ${missing.join(", ")}): run \`ticket-lifecycle migrate\` as the database owner`,
    );
}

/** The owner (or a superuser) migrates; any other login, ticketing_daemon's say, needs a current schema. */
export async function migrateIfOwner(pool: pg.Pool, connectionString: string, log: Logger): Promise<void> {
  if (await canMigrate(pool)) await migrate(pool, connectionString, log);
  else await checkSchema(pool);
}
