import type { Queryable } from "./queryable.ts";

export async function expiryBacklog(
  db: Queryable,
  graceSeconds: number,
): Promise<{ tickets: number; oldestValidEnd: Date | null }> {
  const { rows } = await db.query<{ tickets: string; oldest_valid_end: Date | null }>(
    "select * from ticketing.expiry_backlog(make_interval(secs => $1))",
    [graceSeconds],
  );
  return { tickets: Number(rows[0]?.tickets ?? 0), oldestValidEnd: rows[0]?.oldest_valid_end ?? null };
}
