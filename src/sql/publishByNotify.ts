import type { ClaimSettings } from "./claimEvents.ts";
import type { Queryable } from "./queryable.ts";

/**
 * The sink without NOTIFICATION_URL, one call per round (ticketing.publish_outbox_by_notify): claims up
 * to `limit` events, marks them published and sends each one's CloudEvent with
 * pg_notify('ticketing_events', ...), which listeners hear at commit. Returns how many went out.
 */
export async function publishByNotify(db: Queryable, limit: number, settings: ClaimSettings): Promise<number> {
  const { rows } = await db.query<{ published: number }>({
    name: "ticketing-outbox-notify",
    text: "select ticketing.publish_outbox_by_notify($1, $2, $3, $4) as published",
    values: [limit, settings.source, settings.backoff.baseMs, settings.backoff.maxMs],
  });
  return rows[0]?.published ?? 0;
}
