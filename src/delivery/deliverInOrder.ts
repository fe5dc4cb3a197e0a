import type { OutboxEvent } from "./claimEvents.ts";
import type { DeliveryResult } from "./httpSink.ts";

export interface RoundOutcome {
  delivered: OutboxEvent[];
  failed: Array<{ event: OutboxEvent; error: string }>;
}

/**
 * Delivers a claimed batch (in id order) with up to `concurrency` requests in flight, but one ticket's
 * events one after the other in id order; after a failure that ticket's later events are not tried this
 * round, so a receiver never sees seq n+1 before seq n. Events without a ticket (order and alert events)
 * have no such order and go alone. Once `stopping()` is true no new event is started; the ones in flight
 * finish, and the untried ones stay undelivered for the next round.
 */
export async function deliverInOrder(
  events: OutboxEvent[],
  deliver: (event: OutboxEvent) => Promise<DeliveryResult>,
  concurrency: number,
  stopping: () => boolean,
): Promise<RoundOutcome> {
  const chains = new Map<string, OutboxEvent[]>();
  for (const event of events) {
    const key = event.ticketId === null ? `event:${event.id}` : `ticket:${event.ticketId}`;
    const chain = chains.get(key);
    if (chain) chain.push(event);
    else chains.set(key, [event]);
  }
  const queue = [...chains.values()];
  const outcome: RoundOutcome = { delivered: [], failed: [] };
  let next = 0;

  const lane = async () => {
    while (next < queue.length && !stopping()) {
      const chain = queue[next++] as OutboxEvent[];
      for (const event of chain) {
        if (stopping()) return;
        const result = await deliver(event).catch(
          (error: unknown): DeliveryResult => ({ ok: false, error: String(error) }),
        );
        if (!result.ok) {
          outcome.failed.push({ event, error: result.error });
          break;
        }
        outcome.delivered.push(event);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, lane));
  return outcome;
}
