// The card's refund_job (consumer refund_queue): re-drives requests left pending by a lost job.
import type { Task } from "graphile-worker";
import { z } from "zod";
import { formatZodError } from "../src/config/formatZodError.ts";
import type { TaskDeps } from "../src/deps.ts";
import { withJobHealth } from "../src/jobHealth.ts";
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
});

export function redriveRequestsTask(deps: TaskDeps): Task {
  return withJobHealth(deps, "redrive_requests", async (rawPayload, helpers) => {
    const parsed = payloadSchema.safeParse(rawPayload ?? {});
    if (!parsed.success) {
      deps.log.error(
        { task: "redrive_requests", jobId: helpers.job.id, reason: formatZodError(parsed.error) },
        "invalid payload; job dropped",
      );
      return;
    }
    const redriven = await redriveRequests(deps.pool, parsed.data.older_than_seconds, parsed.data.limit);
    if (redriven > 0)
      deps.log.warn(
        { task: "redrive_requests", jobId: helpers.job.id, redriven },
        "re-drove pending requests whose job was lost",
      );
  });
}
