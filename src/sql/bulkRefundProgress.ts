import type { Queryable } from "./queryable.ts";

export interface BulkRefundProgress {
  bulkId: string;
  eventId: string;
  requested: number;
  done: number;
  failed: number;
  remaining: number;
  finished: boolean;
}

/** Where bulk refunds stand (ticketing.bulk_refund_progress): the unfinished ones, or only `bulkIds`. */
export async function bulkRefundProgress(db: Queryable, bulkIds?: string[]): Promise<BulkRefundProgress[]> {
  const { rows } = await db.query<{
    bulk_id: string;
    event_id: string;
    requested: number;
    done: number;
    failed: number;
    remaining: number;
    finished: boolean;
  }>(
    `select p.bulk_id::text, p.event_id, p.requested, p.done, p.failed, p.remaining, p.finished_at is not null as finished
       from ticketing.bulk_refund_progress($1::bigint[] is null) p
      where $1::bigint[] is null or p.bulk_id = any($1::bigint[])`,
    [bulkIds ?? null],
  );
  return rows.map((r) => ({
    bulkId: r.bulk_id,
    eventId: r.event_id,
    requested: r.requested,
    done: r.done,
    failed: r.failed,
    remaining: r.remaining,
    finished: r.finished,
  }));
}
