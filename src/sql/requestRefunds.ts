import type { Queryable } from "./queryable.ts";

export type RefundTarget = "tickets" | "orders";

export interface RefundOutcome {
  /** Null for an order id that names no order (outcome unknown_order). */
  ticketId: string | null;
  outcome: string;
}

const FUNCTIONS = {
  request: { tickets: "ticketing.request_refunds", orders: "ticketing.request_order_refunds" },
  plan: { tickets: "ticketing.plan_refunds", orders: "ticketing.plan_order_refunds" },
} as const;

/**
 * A bulk refund of these tickets or of every ticket of these orders (sql/14-bulk-refunds.sql); with
 * `plan`, what it would do, writing nothing. Ids are decimal strings, exact to 64 bits.
 */
export async function requestRefunds(
  db: Queryable,
  mode: "request" | "plan",
  target: RefundTarget,
  ids: string[],
  eventId: string,
): Promise<RefundOutcome[]> {
  const { rows } = await db.query<{ ticket_id: string | null; outcome: string }>(
    `select r.ticket_id::text, r.outcome from ${FUNCTIONS[mode][target]}($1::bigint[], $2) r`,
    [ids, eventId],
  );
  return rows.map((r) => ({ ticketId: r.ticket_id, outcome: r.outcome }));
}
