import type { Queryable } from "../sql/queryable.ts";
import type { OutboxEvent } from "./claimEvents.ts";

/**
 * The sink without NOTIFICATION_URL: marks the events published and sends one
 * pg_notify('ticketing_events', {event_id, type, ticket_id, order_id, seq}) per event, in one statement
 * of the claiming transaction (one round trip fewer per round: events trickling in one by one make
 * rounds of a few events, where round trips are most of the cost). Listeners hear exactly the events
 * marked published with them: notifications go out at commit, never for a rolled-back round. The data-
 * modifying CTE always runs to completion; the function scan returns the array in order, so one
 * ticket's notifications keep their id order.
 */
export async function publishByNotify(db: Queryable, events: OutboxEvent[]): Promise<void> {
  await db.query(
    `with published as (
       update ticketing.outbox set published_at = clock_timestamp() where id = any($1::bigint[])
     )
     select pg_notify('ticketing_events', n) from unnest($2::text[]) as n`,
    [events.map((e) => e.id), events.map((e) => e.message)],
  );
}
