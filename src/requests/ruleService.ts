// A rule service (refund-processing, the change service): POST <url> {event_id, kind, ticket_id, order_id, meta};
// a 2xx body {target_status, valid_end?, meta?} is the rule's decision. Without a URL the built-in policy
// approves, since the request was approved upstream before it was sent here: that one is decided in SQL, in the
// transaction that applies it (ticketing.approve_request).

import { z } from "zod";
import { knobs } from "../config/knobs.ts";
import { jsonInteger } from "../db/exactJson.ts";
import { describeNetworkError } from "../errors.ts";
import { httpTarget } from "../httpTarget.ts";
import type { RequestKind } from "./ticketRequest.ts";

export const decisionSchema = z.object({
  target_status: z.string().min(1).max(50),
  valid_end: z.iso.datetime({ offset: true }).optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
});
export type Decision = z.infer<typeof decisionSchema>;

export interface RuleRequest {
  event_id: string;
  kind: RequestKind;
  /** Decimal strings (bigint ids); the body carries them as exact JSON numbers. */
  ticket_id: string;
  order_id: string;
  meta: Record<string, unknown>;
}

/** The service said no (4xx): final, the request fails. */
export class RuleRejected extends Error {}
/** 5xx, timeout, network error or unreadable body: retried with backoff. */
export class RuleUnavailable extends Error {}

export type DecideFn = (request: RuleRequest) => Promise<Decision>;

/** `service` names it in errors, which are stored and alerted on: its URL is never written there. */
export function httpRuleService(service: string, address: string, timeoutMs: number): DecideFn {
  const { url, authorization, excerpt } = httpTarget(address);
  const { ruleServiceRefusal, ruleServiceFault } = knobs.failureBodyChars;
  return async (request) => {
    const body = JSON.stringify({
      ...request,
      ticket_id: jsonInteger(request.ticket_id),
      order_id: jsonInteger(request.order_id),
    });
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "idempotency-key": request.event_id,
          ...(authorization ? { authorization } : {}),
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const why =
        (error as Error).name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : describeNetworkError(error);
      throw new RuleUnavailable(`${service}: ${why}`);
    }
    const text = await response.text().catch(() => "");
    if (response.status >= 400 && response.status < 500) {
      throw new RuleRejected(`${service} answered ${response.status}: ${excerpt(text, ruleServiceRefusal)}`);
    }
    if (!response.ok)
      throw new RuleUnavailable(`${service} answered ${response.status}: ${excerpt(text, ruleServiceFault)}`);
    let decision: unknown;
    try {
      decision = JSON.parse(text);
    } catch {
      throw new RuleUnavailable(`${service} answered ${response.status} with a body that is not JSON`);
    }
    const parsed = decisionSchema.safeParse(decision);
    if (!parsed.success) {
      throw new RuleUnavailable(
        `${service} answered an unreadable decision: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    }
    return parsed.data;
  };
}
