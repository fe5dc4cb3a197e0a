import type { Queryable } from "./queryable.ts";

/**
 * Raises the alert `key` (ticketing.raise_alert): its row, its alert.raised event. Returns false when that
 * alert is already active, so a caller logs it once.
 */
export async function raiseAlert(
  db: Queryable,
  alert: { key: string; kind: string; message: string; details: Record<string, unknown> },
): Promise<boolean> {
  const { rows } = await db.query<{ raised: boolean }>("select ticketing.raise_alert($1, $2, $3, $4) as raised", [
    alert.key,
    alert.kind,
    alert.message,
    alert.details,
  ]);
  return rows[0]?.raised ?? false;
}
