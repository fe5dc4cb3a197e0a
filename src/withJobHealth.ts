import type { JobHelpers, Task } from "graphile-worker";
import { recordJobResult } from "./sql/recordJobResult.ts";
import type { TaskDeps } from "./taskDeps.ts";

/**
 * Wraps a task so each run is timed and counted in ticketing.job_health; the third failed run in a
 * row raises one alert (a job that keeps failing needs someone), a success clears it. The failure is still
 * rethrown to graphile-worker.
 */
export function withJobHealth(
  deps: TaskDeps,
  task: string,
  body: (payload: unknown, helpers: JobHelpers) => Promise<void>,
): Task {
  return async (payload, helpers) => {
    const stop = deps.metrics.jobDuration.startTimer({ task });
    try {
      await body(payload, helpers);
      stop({ result: "success" });
      await recordJobResult(deps.pool, task, { ok: true });
    } catch (error) {
      stop({ result: "failure" });
      const message = error instanceof Error ? error.message : String(error);
      const health = await recordJobResult(deps.pool, task, { ok: false, error: message }).catch((recordError) => {
        deps.log.error({ task, jobId: helpers.job.id, err: recordError }, "could not record the job failure");
        return undefined;
      });
      deps.log.error(
        { task, jobId: helpers.job.id, err: error, consecutiveFailures: health?.consecutiveFailures },
        "job run failed",
      );
      if (health?.alertRaised) {
        deps.log.error(
          { alert: "job_failing", task, consecutiveFailures: health.consecutiveFailures },
          "alert raised: job failing repeatedly",
        );
      }
      throw error;
    }
  };
}
