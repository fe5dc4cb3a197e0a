// The one shape of a graphile-worker task here: its identifier, its payload's schema, how this code enqueues it,
// and its body. Every file in tasks/ default-exports one; taskFor turns it into what graphile-worker runs, with
// the handling every task shares: the payload parsed, an invalid one dropped with one log line, the run timed
// and (where `health` is set) counted in ticketing.job_health.
import type { JobHelpers, Task, TaskSpec } from "graphile-worker";
import type { z } from "zod";
import { formatZodError } from "./config/formatZodError.ts";
import type { Logger } from "./logger.ts";
import type { TaskDeps } from "./taskDeps.ts";
import { withJobHealth } from "./withJobHealth.ts";

/** What a task's body gets: the daemon's parts, this job's helpers, and a logger naming the task and the job. */
export interface JobContext extends TaskDeps {
  helpers: JobHelpers;
  log: Logger;
}

export interface TaskDefinition<Schema extends z.ZodType = z.ZodType> {
  /** The name other services enqueue it with: graphile_worker.add_job('<identifier>', ...). */
  identifier: string;
  /** The payload's shape (shape only: SQL judges the limits it enforces). */
  payload: Schema;
  /** How this code enqueues it (the schedule, a re-queue, the CLI); a raw add_job chooses its own. */
  enqueue?: Pick<TaskSpec, "queueName" | "jobKey" | "jobKeyMode" | "maxAttempts">;
  /** The request kind whose jobs it consumes, for a request task: its ticketing.request_kinds row must name it. */
  requestKind?: string;
  /** Count its runs in ticketing.job_health: the third failed run in a row raises a job_failing alert. */
  health?: boolean;
  /**
   * What an invalid payload leaves behind besides the log line (a request recorded as failed, say); returns
   * fields for that line.
   */
  onInvalidPayload?(raw: unknown, reason: string, job: JobContext): Promise<Record<string, unknown> | undefined>;
  run(payload: z.output<Schema>, job: JobContext): Promise<void>;
}

/** Types a task file's default export. */
export const defineTask = <Schema extends z.ZodType>(definition: TaskDefinition<Schema>): TaskDefinition<Schema> =>
  definition;

/**
 * The one log line of a job dropped for its payload (error level, `dropped: "invalid_payload"` to alert on):
 * retrying it would fail the same way, so the job completes.
 */
export function logDroppedPayload(log: Logger, reason: string, fields: Record<string, unknown> = {}): void {
  log.error({ ...fields, reason, dropped: "invalid_payload" }, "invalid payload; job dropped");
}

export function taskFor(definition: TaskDefinition, deps: TaskDeps): Task {
  const body = async (raw: unknown, helpers: JobHelpers) => {
    const job: JobContext = {
      ...deps,
      helpers,
      log: deps.log.child({ task: definition.identifier, jobId: helpers.job.id }),
    };
    const parsed = definition.payload.safeParse(raw ?? {});
    if (!parsed.success) {
      const reason = `invalid payload: ${formatZodError(parsed.error)}`;
      const fields = await definition.onInvalidPayload?.(raw, reason, job);
      return logDroppedPayload(job.log, reason, fields);
    }
    await definition.run(parsed.data, job);
  };
  return definition.health ? withJobHealth(deps, definition.identifier, body) : body;
}
