import type { Queryable } from "./queryable.ts";

/**
 * Marks a pending request failed with its reason; with `alert`, raises a request_rejected alert too. False when
 * it is finished or another worker's live lease holds it (`leaseToken` null: the caller holds no lease).
 */
export async function failRequest(
  db: Queryable,
  eventId: string,
  leaseToken: string | null,
  reason: string,
  alert: boolean,
): Promise<boolean> {
  const { rows } = await db.query<{ failed: boolean }>("select ticketing.fail_request($1, $2, $3, $4) as failed", [
    eventId,
    leaseToken,
    reason,
    alert,
  ]);
  return rows[0]?.failed ?? false;
}
