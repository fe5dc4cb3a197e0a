// The commands that only read (status, expire --dry-run) and a daemon connecting as ticketing_daemon never
// migrate: they check that the database has applied every migration in sql/, and name `migrate` when not.
import { readdirSync } from "node:fs";
import { appliedMigrations } from "../sql/appliedMigrations.ts";
import type { Queryable } from "../sql/queryable.ts";
import { migrationsDirectory } from "./migrate.ts";

/** The schema is missing or older than this code: one line, naming the command that fixes it. */
export class SchemaNotReady extends Error {}

const MIGRATION_FILE = /^\d+-.+\.sql$/;

/** Throws SchemaNotReady unless every file of sql/ is applied. */
export async function checkSchema(db: Queryable): Promise<void> {
  const files = readdirSync(migrationsDirectory).filter((f) => MIGRATION_FILE.test(f));
  let applied: Set<string>;
  try {
    applied = new Set(await appliedMigrations(db));
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
