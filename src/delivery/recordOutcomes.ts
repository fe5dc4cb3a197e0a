import type { Queryable } from "../sql/queryable.ts";

export interface FailedDelivery {
  id: string;
  error: string;
  retryInMs: number;
}

/**
 * A round's outcomes, one set-based statement each, in the claiming transaction: delivered events get
 * published_at; failed ones count the attempt, keep the error and wait for their next attempt. Nothing
 * is ever given up on: a failing event stays undelivered and is retried until it goes through.
 */
export async function recordOutcomes(db: Queryable, deliveredIds: string[], failures: FailedDelivery[]): Promise<void> {
  if (deliveredIds.length > 0) {
    await db.query("update ticketing.outbox set published_at = clock_timestamp() where id = any($1::bigint[])", [
      deliveredIds,
    ]);
  }
  if (failures.length > 0) {
    await db.query(
      `update ticketing.outbox o
          set attempts = o.attempts + 1, last_error = f.error,
              next_attempt_at = clock_timestamp() + f.retry_in_ms * interval '1 millisecond'
         from unnest($1::bigint[], $2::text[], $3::float8[]) as f(id, error, retry_in_ms)
        where o.id = f.id`,
      [failures.map((f) => f.id), failures.map((f) => f.error.slice(0, 2000)), failures.map((f) => f.retryInMs)],
    );
  }
}
