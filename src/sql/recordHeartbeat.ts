import type { Queryable } from "./queryable.ts";

export interface Heartbeat {
  daemonId: string;
  pid: number;
  host: string;
  startedAt: Date;
  /** The graphile-worker pool ids this process locks jobs under. */
  workerIds: string[];
  /** The jobs it holds: running, or waiting in its local queue. */
  activeJobIds: string[];
}

/** Records that this daemon is alive and what it holds (ticketing.record_heartbeat). */
export async function recordHeartbeat(db: Queryable, beat: Heartbeat): Promise<void> {
  await db.query("select ticketing.record_heartbeat($1, $2, $3, $4, $5, $6)", [
    beat.daemonId,
    beat.pid,
    beat.host,
    beat.startedAt,
    beat.workerIds,
    beat.activeJobIds,
  ]);
}
