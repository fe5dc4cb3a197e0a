import type { Queryable } from "./queryable.ts";

/** Recomputes one order's status from its tickets: its status now, tickets not yet terminal, and whether this call finished it. */
export async function recomputeOrder(
  db: Queryable,
  orderId: string,
): Promise<{ status: string | null; openTickets: number; completedNow: boolean; cancelledNow: boolean }> {
  const { rows: changed } = await db.query<{ completed: number; cancelled: number }>(
    "select * from ticketing.recompute_orders(array[$1::bigint])",
    [orderId],
  );
  const { rows } = await db.query<{ status: string; open_tickets: string }>(
    "select status, open_tickets from ticketing.order_progress($1)",
    [orderId],
  );
  return {
    status: rows[0]?.status ?? null,
    openTickets: Number(rows[0]?.open_tickets ?? 0),
    completedNow: (changed[0]?.completed ?? 0) > 0,
    cancelledNow: (changed[0]?.cancelled ?? 0) > 0,
  };
}
