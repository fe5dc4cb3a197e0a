import type { RequestKind } from "../adapters/ruleService.ts";
import type { Queryable } from "./queryable.ts";

export interface ApproveResult {
  outcome: "succeeded" | "rejected" | "unknown" | "finished" | "busy" | "mismatch";
  targetStatus: string;
  completedOrders: number;
  cancelledOrders: number;
}

/** The built-in approve policy: claim, decide and apply in one transaction (sql/8-approve-request.sql). */
export async function approveRequest(
  db: Queryable,
  request: { kind: RequestKind; ticketId: string; eventId: string; meta: Record<string, unknown> },
): Promise<ApproveResult> {
  const { rows } = await db.query<{
    outcome: ApproveResult["outcome"];
    target_status: string;
    completed_orders: number;
    cancelled_orders: number;
  }>("select * from ticketing.approve_request($1, $2, $3, $4)", [
    request.kind,
    request.ticketId,
    request.eventId,
    request.meta,
  ]);
  const row = rows[0];
  if (!row) throw new Error(`approve_request returned no row for ${request.eventId}`);
  return {
    outcome: row.outcome,
    targetStatus: row.target_status,
    completedOrders: row.completed_orders,
    cancelledOrders: row.cancelled_orders,
  };
}
