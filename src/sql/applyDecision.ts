import { z } from "zod";
import type { Decision } from "../requests/ruleService.ts";
import type { Queryable } from "./queryable.ts";
import { APPLY_OUTCOMES, type ApplyOutcome } from "./requestOutcomes.ts";

const outcome = z.enum(APPLY_OUTCOMES);

export interface DecisionResult {
  outcome: ApplyOutcome;
  completedOrders: number;
  cancelledOrders: number;
}

/** Applies a rule service's decision in one transaction, for the lease holder (ticketing.apply_decision). */
export async function applyDecision(
  db: Queryable,
  eventId: string,
  leaseToken: string,
  decision: Decision,
): Promise<DecisionResult> {
  const { rows } = await db.query<{
    outcome: string;
    completed_orders: number;
    cancelled_orders: number;
  }>("select * from ticketing.apply_decision($1, $2, $3, $4, $5)", [
    eventId,
    leaseToken,
    decision.target_status,
    decision.valid_end ?? null,
    decision.meta ?? {},
  ]);
  const row = rows[0];
  return {
    outcome: outcome.parse(row?.outcome ?? "finished"),
    completedOrders: row?.completed_orders ?? 0,
    cancelledOrders: row?.cancelled_orders ?? 0,
  };
}
