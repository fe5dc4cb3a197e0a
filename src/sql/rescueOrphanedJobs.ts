import type { Queryable } from "./queryable.ts";

export interface RescuedJob {
  jobId: string;
  task: string;
  lockedBy: string;
  /** The daemon that held it, when its heartbeat named it. */
  ownerDaemonId: string | null;
  /** daemon_dead, owner_unknown or lock_leaked. */
  reason: string;
  rescues: number;
  attemptReturned: boolean;
}

/**
 * Frees the jobs of workers whose daemon's heartbeat is older than `deadAfterMs` (ticketing.rescue_orphaned_jobs);
 * one job gets its interrupted attempt back at most `maxRescues` times.
 */
export async function rescueOrphanedJobs(
  db: Queryable,
  deadAfterMs: number,
  maxRescues: number,
): Promise<RescuedJob[]> {
  const { rows } = await db.query<RescuedJob>(
    `select job_id::text as "jobId", task_identifier as task, locked_by as "lockedBy", daemon_id as "ownerDaemonId",
            reason, rescues, attempt_returned as "attemptReturned"
       from ticketing.rescue_orphaned_jobs(make_interval(secs => $1), $2)`,
    [deadAfterMs / 1000, maxRescues],
  );
  return rows;
}
