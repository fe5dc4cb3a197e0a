import { builtInPolicy, httpRuleService, type DecideFn, type RequestKind } from "./adapters/ruleService.ts";
import type { Env } from "./config/env.ts";

/** refund-processing and the change service when their URLs are set, else the built-in approve policy. */
export function ruleServices(env: Env): Record<RequestKind, DecideFn> {
  return {
    refund: env.REFUND_SERVICE_URL ? httpRuleService(env.REFUND_SERVICE_URL, env.HTTP_TIMEOUT_MS) : builtInPolicy("refund"),
    change: env.CHANGE_SERVICE_URL ? httpRuleService(env.CHANGE_SERVICE_URL, env.HTTP_TIMEOUT_MS) : builtInPolicy("change"),
  };
}
