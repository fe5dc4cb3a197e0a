import type { Queryable } from "./queryable.ts";

export interface ResolvedAlert {
  id: string;
  key: string;
  kind: string;
  message: string;
  raised_at: Date;
}

/** Clears the active alert `key`, recorded as an operator action; undefined when none is active. */
export async function resolveAlert(db: Queryable, key: string, dryRun: boolean): Promise<ResolvedAlert | undefined> {
  const { rows } = await db.query<ResolvedAlert>(
    "select id, key, kind, message, raised_at from ticketing.resolve_alert($1, $2)",
    [key, dryRun],
  );
  return rows[0];
}
