import type { BackoffPolicy } from "../backoff.ts";
import type { FailureKind } from "../delivery/deliverInOrder.ts";
import type { Queryable } from "./queryable.ts";

export interface FailedDelivery {
  id: string;
  error: string;
  kind: FailureKind;
  /** The soonest the next attempt may be (a bounded Retry-After); the backoff applies when it is later. */
  notBeforeMs?: number;
}

/**
 * A round's outcomes in the claiming transaction, one call (ticketing.record_outbox_outcomes): delivered
 * events get published_at; failed ones count the attempt, keep the error and wait for their next attempt;
 * a 410 raises the delivery_gone alert, a poison sets its event aside with an alert naming it.
 */
export async function recordOutcomes(
  db: Queryable,
  deliveredIds: string[],
  failures: FailedDelivery[],
  backoff: BackoffPolicy,
): Promise<void> {
  await db.query({
    name: "ticketing-outbox-record",
    text: "select ticketing.record_outbox_outcomes($1, $2, $3, $4, $5, $6, $7)",
    values: [
      deliveredIds,
      failures.map((f) => f.id),
      // A receiver's answer may hold a NUL, which no PostgreSQL text can: it would fail the whole round.
      failures.map((f) => f.error.replaceAll("\0", "")),
      failures.map((f) => f.notBeforeMs ?? null),
      failures.map((f) => f.kind),
      backoff.baseMs,
      backoff.maxMs,
    ],
  });
}
