// The refund job (scheduled as refund_job; the YAML's `consumer` names its queue): re-drives refund and change
// requests left pending by a lost or dead job.
import { z } from "zod";
import { countFinishedRequests } from "../src/requests/requestMetrics.ts";
import { redriveRequests } from "../src/sql/redriveRequests.ts";
import { defineTask } from "../src/taskDefinition.ts";

export default defineTask({
  identifier: "redrive_requests",
  payload: z.object({
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
  }),
  // One run at a time across every daemon, one waiting at most; a failed run is not retried: the next tick is.
  enqueue: { queueName: "refund_queue", jobKey: "redrive_requests", jobKeyMode: "preserve_run_at", maxAttempts: 1 },
  health: true,
  async run({ older_than_seconds, limit, max_redrives }, { pool, metrics, log }) {
    const counts = await redriveRequests(pool, older_than_seconds, limit, max_redrives);
    for (const { kind, redriven, failed } of counts) {
      if (redriven > 0) log.warn({ kind, redriven }, "re-drove pending requests whose job was lost or died");
      if (failed === 0) continue;
      countFinishedRequests(metrics, kind, "failed", failed);
      log.error(
        { kind, failed, maxRedrives: max_redrives, alert: "request_rejected" },
        "failed requests whose job kept dying",
      );
    }
  },
});
