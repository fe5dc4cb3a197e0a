import { type DecideFn, httpRuleService, type RequestKind } from "./adapters/ruleService.ts";
import type { Env } from "./config/env.ts";

/**
 * refund-processing and the change service where their URLs are set; a kind without one (undefined) is
 * decided by the built-in approve policy in SQL (ticketing.approve_request).
 */
export function ruleServices(env: Env): Record<RequestKind, DecideFn | undefined> {
  return {
    refund: env.REFUND_SERVICE_URL
      ? httpRuleService("refund-processing", env.REFUND_SERVICE_URL, env.HTTP_TIMEOUT_MS)
      : undefined,
    change: env.CHANGE_SERVICE_URL
      ? httpRuleService("the change service", env.CHANGE_SERVICE_URL, env.HTTP_TIMEOUT_MS)
      : undefined,
  };
}
