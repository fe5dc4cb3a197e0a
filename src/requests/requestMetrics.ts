import type { Metrics } from "../observability/metrics.ts";
import type { RequestKind } from "./ticketRequest.ts";

type FinishedOutcome = "succeeded" | "failed";
type Counter = Metrics["refundSucceeded"];

/**
 * The per-kind counters operators alert on, besides ticket_requests_finished_total: which (kind, outcome)
 * each one counts. A kind without an entry is counted by ticket_requests_finished_total alone.
 */
const KIND_COUNTERS: Record<RequestKind, Partial<Record<FinishedOutcome, (metrics: Metrics) => Counter>>> = {
  refund: { succeeded: (metrics) => metrics.refundSucceeded },
  change: { failed: (metrics) => metrics.changeFailed },
};

/** Counts `count` requests of `kind` finished with `outcome`, in every counter that counts them. */
export function countFinishedRequests(metrics: Metrics, kind: RequestKind, outcome: FinishedOutcome, count = 1): void {
  metrics.requestsFinished.inc({ kind, outcome }, count);
  KIND_COUNTERS[kind]?.[outcome]?.(metrics).inc(count);
}

/** Orders a request's transition completed or cancelled. */
export function countSettledOrders(metrics: Metrics, completed: number, cancelled: number): void {
  metrics.ordersCompleted.inc(completed);
  metrics.ordersCancelled.inc(cancelled);
}
