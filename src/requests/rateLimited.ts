// A rule service's calls under a rate and concurrency limit held in the database, so that every daemon
// of the database shares one budget (ticketing.acquire_rate_slot).
import { randomUUID } from "node:crypto";
import { acquireRateSlot, type RateLimit } from "../sql/acquireRateSlot.ts";
import type { Queryable } from "../sql/queryable.ts";
import { releaseRateSlot } from "../sql/releaseRateSlot.ts";
import type { DecideFn } from "./ruleService.ts";

/**
 * Waits for a start and a slot before each call and gives the slot back when the call ends. The lease
 * outlives the call's timeout: a daemon that dies mid-call holds its slot only until the lease runs out.
 */
export function rateLimited(decide: DecideFn, db: Queryable, limit: RateLimit, callTimeoutMs: number): DecideFn {
  const leaseSeconds = Math.ceil(callTimeoutMs / 1000) + 5;
  return async (request) => {
    const holder = randomUUID();
    let slot: number;
    for (;;) {
      const answer = await acquireRateSlot(db, limit, holder, leaseSeconds);
      if ("slot" in answer) {
        slot = answer.slot;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, answer.waitMs));
    }
    try {
      return await decide(request);
    } finally {
      if (limit.concurrency !== undefined) await releaseRateSlot(db, limit.name, slot, holder);
    }
  };
}
