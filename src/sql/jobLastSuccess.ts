import type { Queryable } from "./queryable.ts";

/** When `task` last ran successfully, as counted in ticketing.job_health; null: never. */
export async function jobLastSuccess(db: Queryable, task: string): Promise<Date | null> {
  const { rows } = await db.query<{ last_success_at: Date | null }>(
    "select last_success_at from ticketing.job_health where task = $1",
    [task],
  );
  return rows[0]?.last_success_at ?? null;
}
