import type { Queryable } from "./queryable.ts";

/**
 * Queues the expiry sweep due now, with the sweep's job identity (one queued sweep at most); without a batch
 * size, the identity's. Returns its job id.
 */
export async function queueSweep(db: Queryable, batchSize?: number): Promise<string> {
  const { rows } = await db.query<{ id: string }>("select ticketing.queue_sweep($1)::text as id", [batchSize ?? null]);
  return String(rows[0]?.id);
}
