import type { Queryable } from "./queryable.ts";

/** Counts consecutive failures of a task in the database; the threshold-th raises one alert. */
export async function recordJobResult(
  db: Queryable,
  task: string,
  result: { ok: true } | { ok: false; error: string },
  threshold = 3,
): Promise<{ consecutiveFailures: number; alertRaised: boolean }> {
  const { rows } = await db.query<{ consecutive_failures: number; alert_raised: boolean }>(
    "select * from ticketing.record_job_result($1, $2, $3, $4)",
    [task, result.ok, result.ok ? null : result.error, threshold],
  );
  return { consecutiveFailures: rows[0]?.consecutive_failures ?? 0, alertRaised: rows[0]?.alert_raised ?? false };
}
