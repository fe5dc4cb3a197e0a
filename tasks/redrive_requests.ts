// The card's refund_job (consumer refund_queue): re-drives requests left pending by a lost job.
import type { Task } from "graphile-worker";
import { z } from "zod";
import { formatZodError } from "../src/config/formatZodError.ts";
import type { TaskDeps } from "../src/deps.ts";
import { withJobHealth } from "../src/jobHealth.ts";
import { logDroppedPayload } from "../src/jobPayload.ts";
import { countFinishedRequests } from "../src/requests/requestMetrics.ts";
import { redriveRequests } from "../src/sql/redriveRequests.ts";

const payloadSchema = z.object({
  // A year covers any real backlog; larger numbers would overflow PostgreSQL's interval.
  older_than_seconds: z
    .number()
    .int()
    .min(0)
    .max(366 * 86_400)
    .default(120),
  limit: z.number().int().min(1).max(100_000).default(1000),
  // A request whose job keeps dying (crashing the worker, say) is failed after this many fresh jobs.
  max_redrives: z.number().int().min(0).max(1000).default(5),
});

export function redriveRequestsTask(deps: TaskDeps): Task {
  return withJobHealth(deps, "redrive_requests", async (rawPayload, helpers) => {
    const log = deps.log.child({ task: "redrive_requests", jobId: helpers.job.id });
    const parsed = payloadSchema.safeParse(rawPayload ?? {});
    if (!parsed.success) return logDroppedPayload(log, formatZodError(parsed.error));
    const { older_than_seconds, limit, max_redrives } = parsed.data;
    const counts = await redriveRequests(deps.pool, older_than_seconds, limit, max_redrives);
    for (const { kind, redriven, failed } of counts) {
      if (redriven > 0) log.warn({ kind, redriven }, "re-drove pending requests whose job was lost or died");
      if (failed === 0) continue;
      countFinishedRequests(deps.metrics, kind, "failed", failed);
      log.error(
        { kind, failed, maxRedrives: max_redrives, alert: "request_rejected" },
        "failed requests whose job kept dying",
      );
    }
  });
}
