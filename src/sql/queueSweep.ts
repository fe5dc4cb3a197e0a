import type { Queryable } from "./queryable.ts";

/** Queues the expiry sweep due now (one queued sweep at most); returns its job id. */
export async function queueSweep(db: Queryable, batchSize = 200): Promise<string> {
  const { rows } = await db.query<{ id: string }>("select ticketing.queue_sweep($1)::text as id", [batchSize]);
  return String(rows[0]?.id);
}
