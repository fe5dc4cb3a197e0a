import type { Queryable } from "../sql/queryable.ts";

export interface OutboxBacklog {
  undelivered: number;
  /** Age of the oldest undelivered event; 0 when there is none. */
  oldestAgeSeconds: number;
}

/** For the outbox_backlog and outbox_oldest_undelivered_seconds gauges (reads the partial index only). */
export async function outboxBacklog(db: Queryable): Promise<OutboxBacklog> {
  const { rows } = await db.query<{ undelivered: string; oldest_age: number | null }>(
    `select count(*) as undelivered, extract(epoch from clock_timestamp() - min(created_at))::float8 as oldest_age
       from ticketing.outbox where published_at is null`,
  );
  return { undelivered: Number(rows[0]?.undelivered ?? 0), oldestAgeSeconds: Math.max(0, rows[0]?.oldest_age ?? 0) };
}

/**
 * Milliseconds until the earliest backed-off event becomes due, or null when none waits. Events already
 * due but not claimable (another daemon holds them, or they wait behind a backed-off event of their
 * ticket) are left to that event's own due time, a notification or the poll.
 */
export async function msUntilNextAttempt(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ ms: number | null }>(
    `select (extract(epoch from min(next_attempt_at) - clock_timestamp()) * 1000)::float8 as ms
       from ticketing.outbox where published_at is null and next_attempt_at > now()`,
  );
  return rows[0]?.ms ?? null;
}
