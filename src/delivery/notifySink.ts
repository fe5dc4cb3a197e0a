import type { Queryable } from "../sql/queryable.ts";
import type { OutboxEvent } from "./claimEvents.ts";

/**
 * The sink without NOTIFICATION_URL: one pg_notify('ticketing_events', {event_id, type, ticket_id,
 * order_id, seq}) per event, sent in the claiming transaction, so listeners hear exactly the events that
 * are marked published with it (notifications go out at commit, never for a rolled-back round). The
 * function scan returns the array in order, so one ticket's notifications keep their id order.
 */
export async function notifyEvents(db: Queryable, events: OutboxEvent[]): Promise<void> {
  await db.query("select pg_notify('ticketing_events', n) from unnest($1::text[]) as n", [events.map((e) => e.message)]);
}
