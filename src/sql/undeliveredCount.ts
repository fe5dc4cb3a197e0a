import type { Queryable } from "./queryable.ts";

/** How many of these outbox rows are still undelivered. */
export async function undeliveredCount(db: Queryable, outboxIds: string[]): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select ticketing.undelivered_count($1::bigint[]) as n", [outboxIds]);
  return rows[0]?.n ?? 0;
}
