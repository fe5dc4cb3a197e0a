// Ending a request this worker holds the lease of: failed with a reason, or refused (the kind's row says
// whether a refusal alerts). Either answers false when the lease ran out and another worker took the request.
import { failRequest } from "../sql/failRequest.ts";
import { refuseRequest } from "../sql/refuseRequest.ts";
import type { JobContext } from "../taskDefinition.ts";
import { recordFailed, recordLeaseLost } from "./recordOutcome.ts";
import type { TicketRequest } from "./ticketRequest.ts";

export async function failLeasedRequest(
  request: TicketRequest,
  job: JobContext,
  leaseToken: string,
  reason: string,
  alert: boolean,
): Promise<void> {
  if (!(await failRequest(job.pool, request.eventId, leaseToken, reason, alert))) return recordLeaseLost(request, job);
  recordFailed(request, job, { reason, ...(alert ? { alert: "request_rejected" } : {}) });
}

export async function refuseLeasedRequest(
  request: TicketRequest,
  job: JobContext,
  leaseToken: string,
  reason: string,
): Promise<void> {
  const outcome = await refuseRequest(job.pool, request.eventId, leaseToken, reason);
  if (outcome === "not_held") return recordLeaseLost(request, job);
  recordFailed(request, job, { reason, ...(outcome === "alerted" ? { alert: "request_rejected" } : {}) });
}
