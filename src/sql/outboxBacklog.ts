import type { Queryable } from "./queryable.ts";

export interface OutboxBacklog {
  undelivered: number;
  /** Age of the oldest undelivered event; 0 when there is none. */
  oldestAgeSeconds: number;
}

/** For the outbox_backlog and outbox_oldest_undelivered_seconds gauges (ticketing.outbox_backlog). */
export async function outboxBacklog(db: Queryable): Promise<OutboxBacklog> {
  const { rows } = await db.query<{ undelivered: string; oldest_age_seconds: number }>(
    "select undelivered, oldest_age_seconds from ticketing.outbox_backlog()",
  );
  return { undelivered: Number(rows[0]?.undelivered ?? 0), oldestAgeSeconds: rows[0]?.oldest_age_seconds ?? 0 };
}
