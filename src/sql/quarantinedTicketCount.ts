import type { Queryable } from "./queryable.ts";

/** Tickets the expiry sweep set aside (ticketing.status_quarantine). */
export async function quarantinedTicketCount(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select count(*)::int as n from ticketing.status_quarantine");
  return rows[0]?.n ?? 0;
}
