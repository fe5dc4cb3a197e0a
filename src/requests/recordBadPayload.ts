import { recordBadRequest } from "../sql/recordBadRequest.ts";
import type { JobContext } from "../taskDefinition.ts";
import { countFinishedRequests } from "./requestMetrics.ts";
import { requestIds, storableText } from "./requestPayload.ts";
import type { RequestKind } from "./ticketRequest.ts";

/**
 * A request job whose payload cannot be used: when it names a ticket and an event, the request is recorded as
 * failed with the reason (unless that event_id is already known), so operators see it where they see the others.
 * Returns the fields of the job's one "invalid payload" log line.
 */
export async function recordBadPayload(
  kind: RequestKind,
  raw: unknown,
  reason: string,
  job: JobContext,
): Promise<Record<string, unknown>> {
  // A bad key named in the reason may itself be text PostgreSQL cannot store.
  const ids = requestIds.safeParse(raw);
  if (ids.success) await recordBadRequest(job.pool, kind, ids.data.ticket_id, ids.data.event_id, storableText(reason));
  countFinishedRequests(job.metrics, kind, "failed");
  return { kind, ticketId: ids.data?.ticket_id, eventId: ids.data?.event_id };
}
