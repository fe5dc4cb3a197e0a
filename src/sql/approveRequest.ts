import { z } from "zod";
import type { TicketRequest } from "../requests/ticketRequest.ts";
import type { Queryable } from "./queryable.ts";
import { APPROVE_OUTCOMES, type ApproveOutcome } from "./requestOutcomes.ts";

const outcome = z.enum(APPROVE_OUTCOMES);

export interface ApproveResult {
  outcome: ApproveOutcome;
  /** The status the kind's decision moves the ticket to (its in-flight status when the receipt step ended it). */
  targetStatus: string;
  completedOrders: number;
  cancelledOrders: number;
}

/** The built-in approve policy: claim, decide and apply in one transaction (ticketing.approve_request). */
export async function approveRequest(db: Queryable, request: TicketRequest): Promise<ApproveResult> {
  const { rows } = await db.query<{
    outcome: string;
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
    outcome: outcome.parse(row.outcome),
    targetStatus: row.target_status,
    completedOrders: row.completed_orders,
    cancelledOrders: row.cancelled_orders,
  };
}
