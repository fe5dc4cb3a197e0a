import type { Queryable } from "./queryable.ts";

export interface DemoSeed {
  /** Ids as decimal strings, in the order they were created. */
  orderIds: string[];
  ticketIds: string[];
  pastValidEnd: number;
  redeemed: number;
  refunds: number;
  changes: number;
}

/** `ticket-lifecycle demo`'s data set, with ids above any already used (ticketing.seed_demo). */
export async function seedDemo(db: Queryable): Promise<DemoSeed> {
  const { rows } = await db.query<{
    order_ids: string[];
    ticket_ids: string[];
    past_valid_end: number;
    redeemed: number;
    refunds: number;
    changes: number;
  }>(
    `select order_ids::text[], ticket_ids::text[], past_valid_end, redeemed, refunds, changes
       from ticketing.seed_demo()`,
  );
  const row = rows[0];
  if (!row) throw new Error("ticketing.seed_demo() returned no row");
  return {
    orderIds: row.order_ids,
    ticketIds: row.ticket_ids,
    pastValidEnd: row.past_valid_end,
    redeemed: row.redeemed,
    refunds: row.refunds,
    changes: row.changes,
  };
}
