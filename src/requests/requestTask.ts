// The task consuming one request kind's jobs (payload {ticket_id, event_id, meta?}), whoever enqueued them: the
// SQL API (ticketing.request_refund, ...) or a raw graphile_worker.add_job. The kind's row in
// ticketing.request_kinds names this task and says what the kind does; the kind's rule service, if its URL is
// set, decides it, or else the built-in approve policy does. Whatever fails, the last attempt ends the request:
// failed, with its reason and an alert.
import { defineTask } from "../taskDefinition.ts";
import { runBuiltInPolicy } from "./builtInPolicy.ts";
import { recordBadPayload } from "./recordBadPayload.ts";
import { requestPayload } from "./requestPayload.ts";
import { runRuleService } from "./ruleServicePolicy.ts";
import type { RequestKind } from "./ticketRequest.ts";

export function requestTask({ kind, identifier }: { kind: RequestKind; identifier: string }) {
  return defineTask({
    identifier,
    requestKind: kind,
    payload: requestPayload,
    onInvalidPayload: (raw, reason, job) => recordBadPayload(kind, raw, reason, job),
    run: async (payload, job) => {
      const request = { kind, ticketId: payload.ticket_id, eventId: payload.event_id, meta: payload.meta };
      const decide = job.decide[kind];
      await (decide ? runRuleService(decide, request, job) : runBuiltInPolicy(request, job));
    },
  });
}
