import type { Queryable } from "./queryable.ts";

/** Marks a pending request failed with its reason; with `alert`, raises a request_rejected alert too. */
export async function failRequest(db: Queryable, eventId: string, reason: string, alert: boolean): Promise<boolean> {
  const { rows } = await db.query<{ failed: boolean }>("select ticketing.fail_request($1, $2, $3) as failed", [
    eventId,
    reason,
    alert,
  ]);
  return rows[0]?.failed ?? false;
}
