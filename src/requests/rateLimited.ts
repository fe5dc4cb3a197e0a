// A rule service's calls under a rate and concurrency limit held in the database, so that every daemon
// of the database shares one budget (ticketing.acquire_rate_slot).
import { randomUUID } from "node:crypto";
import { knobs } from "../config/knobs.ts";
import { acquireRateSlot, type RateLimit } from "../sql/acquireRateSlot.ts";
import type { Queryable } from "../sql/queryable.ts";
import { releaseRateSlot } from "../sql/releaseRateSlot.ts";
import { type DecideFn, RuleUnavailable } from "./ruleService.ts";

/**
 * Waits for a start and a slot before each call and gives the slot back when the call ends. The slot's lease
 * outlives the call's timeout: a daemon that dies mid-call holds its slot only until the lease runs out. The wait
 * is bounded (knobs.requests.rateLimitWaitMs, inside the request's lease): past it the attempt fails as the
 * service being unavailable would, and is retried with backoff.
 */
export function rateLimited(decide: DecideFn, db: Queryable, limit: RateLimit, callTimeoutMs: number): DecideFn {
  const leaseSeconds = Math.ceil(callTimeoutMs / 1000) + knobs.requests.rateSlotLeaseMarginSeconds;
  const { rateLimitWaitMs } = knobs.requests;
  return async (request) => {
    const holder = randomUUID();
    const deadline = Date.now() + rateLimitWaitMs;
    let slot: number;
    for (;;) {
      const answer = await acquireRateSlot(db, limit, holder, leaseSeconds);
      if ("slot" in answer) {
        slot = answer.slot;
        break;
      }
      const left = deadline - Date.now();
      if (answer.waitMs > left)
        throw new RuleUnavailable(`${limit.name}: no call slot free within ${rateLimitWaitMs} ms; will retry`);
      await new Promise((resolve) => setTimeout(resolve, answer.waitMs));
    }
    try {
      return await decide(request);
    } finally {
      if (limit.concurrency !== undefined) await releaseRateSlot(db, limit.name, slot, holder);
    }
  };
}
