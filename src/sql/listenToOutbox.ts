import type { Queryable } from "./queryable.ts";

/**
 * Subscribes `client` to ticketing_outbox, which the outbox's insert trigger notifies
 * (ticketing.notify_outbox): the dispatcher's wake-up. A connection of its own: LISTEN lasts as long as it.
 */
export async function listenToOutbox(client: Queryable): Promise<void> {
  await client.query("listen ticketing_outbox");
}
