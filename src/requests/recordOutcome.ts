// How a request's end is told: counted in the metrics and logged with its ids in fields. The database has
// already recorded it; these only report what it answered.
import type { ApplyOutcome, ClaimOutcome } from "../sql/requestOutcomes.ts";
import { type JobContext, logDroppedPayload } from "../taskDefinition.ts";
import { countFinishedRequests } from "./requestMetrics.ts";
import type { TicketRequest } from "./ticketRequest.ts";

/** The request's ids, as the fields of a log line. */
export const requestFields = (request: TicketRequest) => ({
  ticketId: request.ticketId,
  eventId: request.eventId,
  kind: request.kind,
});

export function recordSucceeded(request: TicketRequest, job: JobContext, targetStatus: string): void {
  countFinishedRequests(job.metrics, request.kind, "succeeded");
  job.log.info({ ...requestFields(request), targetStatus }, "request applied");
}

export function recordFailed(
  request: TicketRequest,
  job: JobContext,
  fields: Record<string, unknown>,
  message = "request failed",
): void {
  countFinishedRequests(job.metrics, request.kind, "failed");
  job.log.error({ ...requestFields(request), ...fields }, message);
}

/** The state machine refused the transition; SQL failed the request with an alert. */
export function recordRefusedTransition(request: TicketRequest, job: JobContext, fields: Record<string, unknown>) {
  recordFailed(request, job, { ...fields, alert: "request_rejected" }, "refused by the state machine; request failed");
}

/** What apply_decision answered. */
export function recordDecided(
  request: TicketRequest,
  job: JobContext,
  outcome: ApplyOutcome,
  targetStatus: string,
): void {
  if (outcome === "succeeded") recordSucceeded(request, job, targetStatus);
  else if (outcome === "rejected") recordRefusedTransition(request, job, { targetStatus });
}

/** The job did not get the request to itself: someone else holds or finished it, or SQL failed its input. */
export function recordNotClaimed(
  request: TicketRequest,
  job: JobContext,
  outcome: Exclude<ClaimOutcome, "claimed">,
  status?: string,
): void {
  // Both are payloads no retry can fix: the one drop line (src/taskDefinition.ts) tells them.
  if (outcome === "invalid") {
    countFinishedRequests(job.metrics, request.kind, "failed");
    logDroppedPayload(job.log, "invalid payload: breaks a limit SQL enforces (the request row holds its words)", {
      ...requestFields(request),
      outcome,
    });
  } else if (outcome === "mismatch")
    logDroppedPayload(job.log, "invalid payload: its event_id already belongs to another request", {
      ...requestFields(request),
      outcome,
    });
  else job.log.info({ ...requestFields(request), outcome, status }, "request already handled or being handled");
}

export function recordLeaseLost(request: TicketRequest, job: JobContext): void {
  job.log.warn(requestFields(request), "lease ran out and another worker took the request; leaving it to that one");
}

/** Whether this run is the job's last: a fault now ends the request instead of a retry. */
export const isLastAttempt = (job: JobContext): boolean => job.helpers.job.attempts >= job.helpers.job.max_attempts;

export const gaveUpReason = (job: JobContext, message: string): string =>
  `gave up after ${job.helpers.job.attempts} attempts: ${message}`;
