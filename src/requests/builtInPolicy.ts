// The built-in approve policy, for a kind without a rule service: one transaction (ticketing.approve_request).
// Nothing is written when it fails, so a transient error is simply retried; a refusal the same input will meet
// again is recorded and final; the last attempt fails the request in a statement of its own.
import { knobs } from "../config/knobs.ts";
import { classifyError } from "../errors.ts";
import { approveRequest } from "../sql/approveRequest.ts";
import { claimRequest } from "../sql/claimRequest.ts";
import { giveUpRequest } from "../sql/giveUpRequest.ts";
import type { JobContext } from "../taskDefinition.ts";
import { refuseLeasedRequest } from "./endLeasedRequest.ts";
import {
  gaveUpReason,
  isLastAttempt,
  recordFailed,
  recordNotClaimed,
  recordRefusedTransition,
  recordSucceeded,
} from "./recordOutcome.ts";
import { countSettledOrders } from "./requestMetrics.ts";
import type { TicketRequest } from "./ticketRequest.ts";

export async function runBuiltInPolicy(request: TicketRequest, job: JobContext): Promise<void> {
  try {
    const result = await approveRequest(job.pool, request);
    countSettledOrders(job.metrics, result.completedOrders, result.cancelledOrders);
    switch (result.outcome) {
      case "succeeded":
        return recordSucceeded(request, job, result.targetStatus);
      case "rejected":
        return recordRefusedTransition(request, job, { targetStatus: result.targetStatus });
      case "unknown":
        return recordFailed(request, job, { reason: `unknown ticket ${request.ticketId}` });
      case "finished":
        return;
      default:
        return recordNotClaimed(request, job, result.outcome);
    }
  } catch (error) {
    if (classifyError(error) === "refused") return refuseAfterRollback(request, job, error);
    if (!isLastAttempt(job)) throw error;
    return giveUp(request, job, error);
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The database refused the transaction and rolled it back: the refusal is recorded under a lease of its own. */
async function refuseAfterRollback(request: TicketRequest, job: JobContext, error: unknown): Promise<void> {
  const claim = await claimRequest(job.pool, request, knobs.requests.leaseSeconds);
  if (claim.outcome !== "claimed") return recordNotClaimed(request, job, claim.outcome, claim.status);
  await refuseLeasedRequest(request, job, claim.leaseToken, `refused by the database: ${messageOf(error)}`);
}

/** Its transaction rolled back, so nothing records the failure unless this statement does. */
async function giveUp(request: TicketRequest, job: JobContext, error: unknown): Promise<void> {
  const reason = gaveUpReason(job, messageOf(error));
  const outcome = await giveUpRequest(job.pool, request, reason);
  if (outcome !== "failed") return recordNotClaimed(request, job, outcome);
  recordFailed(request, job, { reason, err: error, alert: "request_rejected" });
}
