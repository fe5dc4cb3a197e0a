// One bulk refund (ticketing.request_refunds / request_order_refunds): with the built-in approve policy it
// drains the bulk's pending requests in batches, each batch its own transaction (`lanes` in flight, SKIP
// LOCKED keeps them apart); with refund-processing it hands them to the per-request jobs, a window at a
// time, so the service sees one call per request at the pace the shared limit allows. Finished batches
// stay committed: a crash or a restart resumes with the requests still pending.

import type { JobHelpers } from "graphile-worker";
import { z } from "zod";
import { knobs } from "../src/config/knobs.ts";
import type { Logger } from "../src/logger.ts";
import { countFinishedRequests, countSettledOrders } from "../src/requests/requestMetrics.ts";
import { retryOnConflict } from "../src/retryOnConflict.ts";
import { bulkRefundProgress } from "../src/sql/bulkRefundProgress.ts";
import { drainBulkRefund } from "../src/sql/drainBulkRefund.ts";
import { enqueueBulkRefundJob } from "../src/sql/enqueueBulkRefundJob.ts";
import { feedBulkRefund } from "../src/sql/feedBulkRefund.ts";
import { finishBulkRefund } from "../src/sql/finishBulkRefund.ts";
import { defineTask } from "../src/taskDefinition.ts";
import type { TaskDeps } from "../src/taskDeps.ts";

const bulkRefundPayload = z.object({
  bulk_id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  batch_size: z.number().int().min(1).max(10_000).default(500),
  lanes: z.number().int().min(1).max(knobs.batchJobs.maxLanes).default(3),
});

const { progressEveryMs: PROGRESS_EVERY_MS, bulkFeedEveryMs: FEED_EVERY_MS } = knobs.batchJobs;

/** Handed over and unfinished at once: a few seconds of the allowed pace, at least two per allowed call in flight. */
function feedWindow(rate: number | undefined, concurrency: number | undefined): number {
  const byRate = rate === undefined ? 1000 : Math.ceil(rate * 5);
  return Math.min(10_000, Math.max(byRate, 2 * (concurrency ?? 1)));
}

const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

async function logProgress(deps: TaskDeps, log: Logger, bulkId: string, message: string) {
  const [progress] = await bulkRefundProgress(deps.pool, [bulkId]);
  if (progress) {
    const { requested, done, failed, remaining, eventId } = progress;
    log.info({ eventId, requested, done, failed, remaining }, message);
  }
}

async function drain(
  deps: TaskDeps,
  log: Logger,
  bulkId: string,
  payload: z.output<typeof bulkRefundPayload>,
  helpers: JobHelpers,
) {
  let lastProgress = Date.now();
  // Each lane resumes after the last request of its previous batch, then makes a second pass from the
  // front for what the first had to skip (a ticket another transaction held).
  const lane = async () => {
    for (let pass = 1; pass <= 2; pass++) {
      let after: string | undefined;
      while (!helpers.abortSignal.aborted) {
        const from = after;
        const batch = await retryOnConflict(() => drainBulkRefund(deps.pool, bulkId, payload.batch_size, from), log);
        if (!batch.lastId) break;
        after = batch.lastId;
        countFinishedRequests(deps.metrics, "refund", "succeeded", batch.succeeded);
        countFinishedRequests(deps.metrics, "refund", "failed", batch.failed);
        countSettledOrders(deps.metrics, batch.completedOrders, batch.cancelledOrders);
        if (batch.failed > 0)
          log.error(
            { failed: batch.failed, alert: "request_rejected" },
            "bulk refund: the state machine refused tickets",
          );
        if (Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
          lastProgress = Date.now();
          await logProgress(deps, log, bulkId, "bulk refund progress");
        }
      }
    }
  };
  await Promise.all(Array.from({ length: payload.lanes }, lane));
}

async function feed(deps: TaskDeps, log: Logger, bulkId: string, helpers: JobHelpers) {
  const window = feedWindow(deps.env.REFUND_SERVICE_RATE, deps.env.REFUND_SERVICE_CONCURRENCY);
  let lastProgress = Date.now();
  while (!helpers.abortSignal.aborted) {
    const { inFlight, waiting } = await feedBulkRefund(deps.pool, bulkId, window);
    if (inFlight === 0 && waiting === 0) return;
    if (Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = Date.now();
      await logProgress(deps, log, bulkId, "bulk refund progress");
    }
    await pause(FEED_EVERY_MS, helpers.abortSignal);
  }
}

// Queued by ticketing.enqueue_bulk_refund_job (one job per bulk, in a queue of its own).
export default defineTask({
  identifier: "bulk_refund",
  payload: bulkRefundPayload,
  health: true,
  async run(parsed, job) {
    const { helpers } = job;
    const bulkId = String(parsed.bulk_id);
    const log = job.log.child({ bulkId });
    const mode = job.decide.refund ? "refund-processing" : "built-in";
    log.info({ mode }, "bulk refund started");
    if (job.decide.refund) await feed(job, log, bulkId, helpers);
    else await drain(job, log, bulkId, parsed, helpers);

    if (helpers.abortSignal.aborted) {
      // Shutting down: every finished batch is committed; the rest goes to whichever daemon runs next.
      await enqueueBulkRefundJob(job.pool, bulkId);
      await logProgress(job, log, bulkId, "bulk refund interrupted; queued again");
      return;
    }
    if (!(await finishBulkRefund(job.pool, bulkId))) {
      // Requests whose ticket another transaction held through both passes: graphile-worker retries the job.
      await logProgress(job, log, bulkId, "bulk refund: requests still pending");
      throw new Error(`bulk refund ${bulkId}: requests still pending after both passes; retrying`);
    }
    await logProgress(job, log, bulkId, "bulk refund finished");
  },
});
