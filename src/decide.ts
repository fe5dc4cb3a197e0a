import { type DecideFn, httpRuleService, type RequestKind } from "./adapters/ruleService.ts";
import type { Env } from "./config/env.ts";
import { rateLimited } from "./rateLimit.ts";
import type { Queryable } from "./sql/queryable.ts";

/**
 * refund-processing and the change service where their URLs are set; a kind without one (undefined) is
 * decided by the built-in approve policy in SQL (ticketing.approve_request). Calls to refund-processing
 * keep to REFUND_SERVICE_RATE / REFUND_SERVICE_CONCURRENCY across every daemon of `db`.
 */
export function ruleServices(env: Env, db: Queryable): Record<RequestKind, DecideFn | undefined> {
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
