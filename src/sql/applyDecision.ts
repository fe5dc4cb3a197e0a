import type { Decision } from "../adapters/ruleService.ts";
import type { Queryable } from "./queryable.ts";

export interface DecisionResult {
  outcome: "succeeded" | "rejected" | "finished";
  completedOrders: number;
  cancelledOrders: number;
}

/** Applies a refund/change decision in one transaction, for the lease holder (ticketing.apply_decision). */
export async function applyDecision(
  db: Queryable,
  eventId: string,
  leaseToken: string,
  decision: Decision,
): Promise<DecisionResult> {
  const { rows } = await db.query<{
    outcome: DecisionResult["outcome"];
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
    outcome: row?.outcome ?? "finished",
    completedOrders: row?.completed_orders ?? 0,
    cancelledOrders: row?.cancelled_orders ?? 0,
  };
}
