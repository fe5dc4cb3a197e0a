import type { Env } from "../config/env.ts";
import type { Queryable } from "../sql/queryable.ts";
import { rateLimited } from "./rateLimited.ts";
import { type DecideFn, httpRuleService } from "./ruleService.ts";
import type { RequestKind } from "./ticketRequest.ts";

/** The rule service per kind; a kind without one (undefined) is decided by the built-in approve policy. */
export type RuleServices = Record<RequestKind, DecideFn | undefined>;

/**
 * refund-processing and the change service where their URLs are set; a kind without one (undefined) is
 * decided by the built-in approve policy in SQL (ticketing.approve_request). Calls to refund-processing
 * keep to REFUND_SERVICE_RATE / REFUND_SERVICE_CONCURRENCY across every daemon of `db`.
 */
export function ruleServices(env: Env, db: Queryable): RuleServices {
  const refund = env.REFUND_SERVICE_URL
    ? httpRuleService("refund-processing", env.REFUND_SERVICE_URL, env.HTTP_TIMEOUT_MS)
    : undefined;
  const limit = { name: "refund_service", rate: env.REFUND_SERVICE_RATE, concurrency: env.REFUND_SERVICE_CONCURRENCY };
  return {
    refund:
      refund && (limit.rate !== undefined || limit.concurrency !== undefined)
        ? rateLimited(refund, db, limit, env.HTTP_TIMEOUT_MS)
        : refund,
    change: env.CHANGE_SERVICE_URL
      ? httpRuleService("the change service", env.CHANGE_SERVICE_URL, env.HTTP_TIMEOUT_MS)
      : undefined,
  };
}
