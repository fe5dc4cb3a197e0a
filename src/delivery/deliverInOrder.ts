import type { OutboxEvent } from "../sql/claimEvents.ts";
import type { DeliveryResult } from "./httpSink.ts";

/**
 * Why an attempt failed: `failed` (an answer that is not a 2xx, a timeout, a cut connection), `gone` (410
 * Gone) or `poison` (the send threw: the event cannot be sent as it is, and is set aside with an alert).
 */
export type FailureKind = "failed" | "gone" | "poison";

export interface RoundOutcome {
  delivered: OutboxEvent[];
  failed: Array<{ event: OutboxEvent; error: string; kind: FailureKind; retryAfterMs?: number }>;
}

/**
 * Delivers a claimed batch (in id order) with up to `concurrency` requests in flight, but one ticket's
 * events one after the other in id order; after a failure that ticket's later events are not tried this
 * round, so a receiver never sees seq n+1 before seq n. Events without a ticket (order and alert events)
 * have no such order and go alone. A send that throws fails its event only: the others go on. Once
 * `stopping()` is true no new event is started; the ones in flight finish, and the untried ones stay
 * undelivered for the next round.
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

  const attempt = async (event: OutboxEvent): Promise<RoundOutcome["failed"][number] | undefined> => {
    try {
      const result = await deliver(event);
      if (result.ok) return undefined;
      const failure = { event, error: result.error, kind: result.gone ? ("gone" as const) : ("failed" as const) };
      return result.retryAfterMs === undefined ? failure : { ...failure, retryAfterMs: result.retryAfterMs };
    } catch (error) {
      return { event, error: `the send threw: ${String(error)}`, kind: "poison" };
    }
  };

  const lane = async () => {
    while (next < queue.length && !stopping()) {
      const chain = queue[next++] as OutboxEvent[];
      for (const event of chain) {
        if (stopping()) return;
        const failure = await attempt(event);
        if (failure) {
          outcome.failed.push(failure);
          break;
        }
        outcome.delivered.push(event);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, lane));
  return outcome;
}
