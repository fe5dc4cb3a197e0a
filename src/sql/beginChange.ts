import type { Queryable } from "./queryable.ts";

/**
 * usable -> changing on receipt of a change request, for the lease holder: applied / duplicate / rejected /
 * finished (also when the lease is no longer this worker's).
 */
export async function beginChange(
  db: Queryable,
  eventId: string,
  leaseToken: string,
): Promise<"applied" | "duplicate" | "rejected" | "finished"> {
  const { rows } = await db.query<{ outcome: "applied" | "duplicate" | "rejected" | "finished" }>(
    "select ticketing.begin_change($1, $2) as outcome",
    [eventId, leaseToken],
  );
  return rows[0]?.outcome ?? "finished";
}
