// A kind with a rule service: the worker leases the request (proved by the lease's token) while the service
// decides, then ticketing.apply_decision applies the decision in one transaction. A refusal is final; any other
// fault gives the lease back and the job is retried, until its last attempt fails the request.
import { knobs } from "../config/knobs.ts";
import { classifyError } from "../errors.ts";
import { applyDecision } from "../sql/applyDecision.ts";
import { beginRequest } from "../sql/beginRequest.ts";
import { claimRequest } from "../sql/claimRequest.ts";
import { releaseRequest } from "../sql/releaseRequest.ts";
import type { JobContext } from "../taskDefinition.ts";
import { failLeasedRequest, refuseLeasedRequest } from "./endLeasedRequest.ts";
import {
  gaveUpReason,
  isLastAttempt,
  recordDecided,
  recordLeaseLost,
  recordNotClaimed,
  recordRefusedTransition,
  requestFields,
} from "./recordOutcome.ts";
import { countSettledOrders } from "./requestMetrics.ts";
import { type DecideFn, RuleRejected } from "./ruleService.ts";
import type { TicketRequest } from "./ticketRequest.ts";

/** Lease on a request while its service call runs (src/config/knobs.ts says how long, and what it must outlast). */
const LEASE_SECONDS = knobs.requests.leaseSeconds;

export async function runRuleService(decide: DecideFn, request: TicketRequest, job: JobContext): Promise<void> {
  const claim = await claimRequest(job.pool, request, LEASE_SECONDS);
  if (claim.outcome !== "claimed") return recordNotClaimed(request, job, claim.outcome, claim.status);
  const leaseToken = claim.leaseToken;
  if (claim.orderId === null)
    return failLeasedRequest(request, job, leaseToken, `unknown ticket ${request.ticketId}`, false);
  try {
    const begun = await beginRequest(job.pool, request.eventId, leaseToken);
    if (begun === "rejected") return recordRefusedTransition(request, job, { step: "receipt" });
    if (begun === "finished") return;
    const decision = await decide({
      event_id: request.eventId,
      kind: request.kind,
      ticket_id: request.ticketId,
      order_id: claim.orderId,
      meta: claim.meta,
    });
    const result = await applyDecision(job.pool, request.eventId, leaseToken, decision);
    countSettledOrders(job.metrics, result.completedOrders, result.cancelledOrders);
    recordDecided(request, job, result.outcome, decision.target_status);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof RuleRejected) return refuseLeasedRequest(request, job, leaseToken, message);
    if (classifyError(error) === "refused")
      return refuseLeasedRequest(request, job, leaseToken, `refused by the database: ${message}`);
    if (isLastAttempt(job)) return failLeasedRequest(request, job, leaseToken, gaveUpReason(job, message), true);
    if (!(await releaseRequest(job.pool, request.eventId, leaseToken, message))) recordLeaseLost(request, job);
    job.log.warn(
      {
        ...requestFields(request),
        attempt: job.helpers.job.attempts,
        maxAttempts: job.helpers.job.max_attempts,
        err: error,
      },
      "request attempt failed; will retry",
    );
    throw error;
  }
}
