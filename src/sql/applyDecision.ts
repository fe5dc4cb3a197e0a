import type { Decision } from "../adapters/ruleService.ts";
import type { Queryable } from "./queryable.ts";

/** Applies a refund/change decision in one transaction: succeeded / rejected / finished. */
export async function applyDecision(db: Queryable, eventId: string, decision: Decision): Promise<"succeeded" | "rejected" | "finished"> {
  const { rows } = await db.query<{ outcome: "succeeded" | "rejected" | "finished" }>(
    "select ticketing.apply_decision($1, $2, $3, $4) as outcome",
    [eventId, decision.target_status, decision.valid_end ?? null, decision.meta ?? {}],
  );
  return rows[0]?.outcome ?? "finished";
}
