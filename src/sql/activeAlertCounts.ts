import type { Queryable } from "./queryable.ts";

/** Active alerts per kind: every kind ever raised, 0 when none of it is active (ticketing.active_alert_counts). */
export async function activeAlertCounts(db: Queryable): Promise<Array<{ kind: string; active: number }>> {
  const { rows } = await db.query<{ kind: string; active: number }>(
    "select kind, active from ticketing.active_alert_counts()",
  );
  return rows;
}
