import type { Queryable } from "./queryable.ts";

/** Daemons whose heartbeat is at most `seenWithinMs` old, across the fleet (ticketing.live_daemons). */
export async function liveDaemons(db: Queryable, seenWithinMs: number): Promise<number> {
  const { rows } = await db.query<{ live: number }>(
    "select ticketing.live_daemons(make_interval(secs => $1)) as live",
    [seenWithinMs / 1000],
  );
  return Number(rows[0]?.live ?? 0);
}
