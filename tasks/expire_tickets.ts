// The expiry sweep: one run drains the whole backlog in batches of batch_size, each batch its own
// transaction, `lanes` batches in flight at once (SKIP LOCKED keeps them apart). How it is queued (queue, job
// key, attempts, default batch size) is the database's: ticketing.sweep_job(), read by the daemon at start-up.

import { z } from "zod";
import { knobs } from "../src/config/knobs.ts";
import { retryOnConflict } from "../src/retryOnConflict.ts";
import { expireBatch, type SweepPosition } from "../src/sql/expireBatch.ts";
import { defineTask } from "../src/taskDefinition.ts";

const expireTicketsPayload = z.object({
  // Absent: the sweep identity's batch size.
  batch_size: z.number().int().min(1).max(100_000).optional(),
  grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 86_400)
    .optional(),
  // First delay before a ticket the sweep set aside (its expiry failed on its own) is tried again; it
  // doubles with every failed attempt, up to 64 times this.
  retry_seconds: z.number().int().min(0).max(86_400).default(60),
  // Three batches in flight keep two cores busy while each of them waits for its commit.
  lanes: z.number().int().min(1).max(knobs.batchJobs.maxLanes).default(3),
});

const { progressEveryMs: PROGRESS_EVERY_MS } = knobs.batchJobs;

export default defineTask({
  identifier: "expire_tickets",
  payload: expireTicketsPayload,
  health: true,
  async run(parsed, { helpers, log, pool, env, metrics, sweep }) {
    const payload = { ...parsed, batch_size: parsed.batch_size ?? sweep.batchSize };
    const grace = payload.grace_seconds ?? env.EXPIRE_GRACE_SECONDS;
    const started = Date.now();
    let expired = 0;
    let skipped = 0;
    let batches = 0;
    let lastProgress = started;

    // Each lane resumes after the last ticket of its previous batch (ticketing.expire_batch explains why),
    // then makes passes from the front for what it passed over or what became due behind it, until a pass
    // expires nothing. A ticket passed over because another lane held its order is taken by a later pass:
    // that lane expired something in its own pass, so it makes one more.
    const lane = async () => {
      for (let progress = true; progress && !helpers.abortSignal.aborted; ) {
        progress = false;
        let after: SweepPosition | undefined;
        while (!helpers.abortSignal.aborted) {
          const from = after;
          const result = await retryOnConflict(
            () =>
              expireBatch(pool, {
                batchSize: payload.batch_size,
                graceSeconds: grace,
                retrySeconds: payload.retry_seconds,
                after: from,
              }),
            log,
          );
          if (!result.last) break;
          after = result.last;
          progress ||= result.expired > 0;
          expired += result.expired;
          skipped += result.skipped;
          if (result.quarantined.length > 0)
            log.error(
              { alert: "ticket_quarantined", ticketIds: result.quarantined },
              "alert raised: expiry failed for these tickets on their own; set aside, the rest of the batch expired",
            );
          batches += 1;
          metrics.ticketsExpired.inc(result.expired);
          metrics.sweepBatchSize.observe(result.expired);
          metrics.ordersCompleted.inc(result.completedOrders);
          metrics.ordersCancelled.inc(result.cancelledOrders);
          if (Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
            lastProgress = Date.now();
            log.info(
              { expired, batches, ticketsPerSecond: Math.round(expired / ((lastProgress - started) / 1000)) },
              "expiry sweep progress",
            );
          }
        }
      }
    };
    await Promise.all(Array.from({ length: payload.lanes }, lane));
    if (helpers.abortSignal.aborted) {
      // Shutting down mid-sweep: every finished batch is committed; queue the rest for whichever daemon
      // runs next instead of waiting for the next schedule tick.
      await helpers.addJob(sweep.task, payload, sweep.spec);
    }
    const seconds = (Date.now() - started) / 1000;
    log.info(
      {
        expired,
        // Times a ticket was passed over because another transaction held its order (each pass counts); a later run takes it.
        skipped,
        batches,
        seconds,
        ticketsPerSecond: seconds > 0 ? Math.round(expired / seconds) : expired,
        interrupted: helpers.abortSignal.aborted,
      },
      "expiry sweep finished",
    );
  },
});
