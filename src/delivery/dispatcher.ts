// The outbox dispatcher: long-running loops ("lanes") in each daemon process that deliver ticketing.outbox
// events to NOTIFICATION_URL (or pg_notify without it), at least once and, per ticket, in order. They
// wake on LISTEN ticketing_outbox and poll as well, so a lost notification or a backed-off event is never
// stuck. Not a graphile-worker job per event: one claim of hundreds of events costs one transaction.
import type pg from "pg";
import { z } from "zod";
import { type BackgroundService, parseServiceOptions } from "../backgroundService.ts";
import { retryDelayMs } from "../backoff.ts";
import type { Env } from "../config/env.ts";
import { knobs } from "../config/knobs.ts";
import type { Logger } from "../logger.ts";
import { deleteInChunks } from "../maintenance/deleteInChunks.ts";
import type { Metrics } from "../observability/metrics.ts";
import { every } from "../periodic.ts";
import { type ClaimSettings, claimEvents } from "../sql/claimEvents.ts";
import { inTransaction } from "../sql/inTransaction.ts";
import { msUntilNextAttempt } from "../sql/msUntilNextAttempt.ts";
import { outboxBacklog } from "../sql/outboxBacklog.ts";
import { pruneOutbox } from "../sql/pruneOutbox.ts";
import { publishByNotify } from "../sql/publishByNotify.ts";
import { type FailedDelivery, recordOutcomes } from "../sql/recordOutcomes.ts";
import { deliverInOrder, type RoundOutcome } from "./deliverInOrder.ts";
import { createHttpSink, type HttpSink } from "./httpSink.ts";
import { listenForOutbox } from "./outboxListener.ts";
import { createWakeSignal } from "./wakeSignal.ts";

export interface DispatcherDeps {
  pool: pg.Pool;
  /** For the LISTEN connection, which lives outside the pool. */
  connectionString: string;
  env: Env;
  log: Logger;
  metrics: Metrics;
}

const ms = (max: number) => z.number().int().min(1).max(max);
const d = knobs.dispatcher;

/** The dispatcher's knobs: each one's meaning and default in src/config/knobs.ts. */
export const dispatcherOptionsSchema = z
  .strictObject({
    batchSize: z.number().int().min(1).max(10_000).prefault(d.batchSize),
    concurrency: z.number().int().min(1).max(512).prefault(d.concurrency),
    lanes: z.number().int().min(1).max(8).prefault(d.lanes),
    lingerMs: z.number().int().min(0).max(1_000).prefault(d.lingerMs),
    pollIntervalMs: ms(3_600_000).prefault(d.pollIntervalMs),
    backoffBaseMs: ms(3_600_000).prefault(d.backoffBaseMs),
    backoffMaxMs: ms(86_400_000).prefault(d.backoffMaxMs),
    pruneIntervalMs: ms(86_400_000).prefault(d.pruneIntervalMs),
    pruneChunk: z.number().int().min(1).max(100_000).prefault(d.pruneChunk),
    gaugeIntervalMs: ms(3_600_000).prefault(d.gaugeIntervalMs),
  })
  .refine((o) => o.backoffMaxMs >= o.backoffBaseMs, {
    path: ["backoffMaxMs"],
    message: "must be at least backoffBaseMs",
  });
export type DispatcherOptions = z.input<typeof dispatcherOptionsSchema>;

export interface Dispatcher extends BackgroundService {
  /** Rounds run so far (claims, empty ones included): what lingering saves. */
  rounds(): number;
}

export function startDispatcher(deps: DispatcherDeps, options: DispatcherOptions = {}): Dispatcher {
  const opts = parseServiceOptions("dispatcher", dispatcherOptionsSchema, options);
  const { pool, env, metrics } = deps;
  const log = deps.log.child({ component: "outbox" });
  const backoff = { baseMs: opts.backoffBaseMs, maxMs: opts.backoffMaxMs };
  const settings: ClaimSettings = { source: env.CLOUDEVENTS_SOURCE, backoff };
  const sink: HttpSink | undefined = env.NOTIFICATION_URL
    ? createHttpSink({
        url: env.NOTIFICATION_URL,
        secret: env.NOTIFICATION_SECRET,
        timeoutMs: env.HTTP_TIMEOUT_MS,
        maxSockets: opts.concurrency * opts.lanes,
      })
    : undefined;
  let stopping = false;
  const isStopping = () => stopping;
  const wake = createWakeSignal();

  let rounds = 0;

  /** One round in one transaction: claim, deliver, record. Returns how many events it claimed and tried. */
  const round = async (): Promise<{ claimed: number; tried: number }> => {
    const client = await pool.connect();
    let failed: unknown;
    try {
      rounds += 1;
      if (!sink) {
        // One statement, its own transaction: the claim, the notifications and the outcomes commit together.
        const published = await publishByNotify(client, opts.batchSize, settings);
        metrics.eventsDelivered.inc(published);
        return { claimed: published, tried: published };
      }
      const { events, outcome } = await inTransaction(client, async () => {
        const claimed = await claimEvents(client, opts.batchSize, settings);
        const nothing: RoundOutcome = { delivered: [], failed: [] };
        if (claimed.length === 0) return { events: claimed, outcome: nothing };
        const result = await deliverInOrder(claimed, (event) => sink.deliver(event), opts.concurrency, isStopping);
        const failures: FailedDelivery[] = result.failed.map(({ event, error, kind, retryAfterMs }) =>
          retryAfterMs === undefined
            ? { id: event.id, error, kind }
            : { id: event.id, error, kind, notBeforeMs: Math.min(retryAfterMs, backoff.maxMs) },
        );
        await recordOutcomes(
          client,
          result.delivered.map((e) => e.id),
          failures,
          backoff,
        );
        return { events: claimed, outcome: result };
      });
      // Counted and logged once committed: a round rolled back delivered nothing as far as the outbox knows.
      metrics.eventsDelivered.inc(outcome.delivered.length);
      metrics.deliveryFailures.inc(outcome.failed.length);
      for (const { event, error, kind } of outcome.failed) {
        if (kind === "gone") metrics.deliveryGone.inc();
        const fields = {
          eventId: event.eventId,
          type: event.type,
          ticketId: event.ticketId,
          orderId: event.orderId,
          attempts: event.attempts + 1,
          error,
        };
        if (kind === "poison") log.error(fields, "event cannot be sent; set aside, retried with backoff");
        else if (kind === "gone") log.error(fields, "notification endpoint answered 410 Gone; will retry");
        else log.warn(fields, "event delivery failed; will retry");
      }
      return { claimed: events.length, tried: outcome.delivered.length + outcome.failed.length };
    } catch (error) {
      failed = error;
      throw error;
    } finally {
      // A client whose round failed may hold a broken connection: the pool discards it.
      client.release(failed instanceof Error ? failed : undefined);
    }
  };

  const idleWaitMs = async (): Promise<number> => {
    const untilDue = await msUntilNextAttempt(pool);
    return untilDue === null
      ? opts.pollIntervalMs
      : Math.min(opts.pollIntervalMs, Math.max(0, untilDue) + d.dueSlackMs);
  };

  const linger = () =>
    opts.lingerMs > 0 && !stopping ? new Promise((resolve) => setTimeout(resolve, opts.lingerMs)) : undefined;

  const lane = async () => {
    let dbFailures = 0;
    while (!stopping) {
      const seen = wake.generation();
      try {
        const { claimed, tried } = await round();
        dbFailures = 0;
        if (claimed >= opts.batchSize) {
          // A backlog: go again at once, and rouse a sleeping lane to work through it alongside.
          wake.wake();
          continue;
        }
        // Not full: more may be trickling in, so the next claim waits lingerMs for it. An empty round (or
        // one whose events all wait behind another daemon) first sleeps until a notification, the next
        // backed-off event or the poll.
        if (tried === 0) await wake.sleep(await idleWaitMs(), seen);
        await linger();
      } catch (error) {
        dbFailures += 1;
        const retryInMs = retryDelayMs(dbFailures, knobs.databaseRetry);
        log.warn({ err: error, failures: dbFailures, retryInMs }, "outbox round failed; retrying");
        await wake.sleep(retryInMs, seen);
      }
    }
  };

  const listener = listenForOutbox({
    connectionString: deps.connectionString,
    log,
    onWake: wake.wake,
    reconnect: knobs.databaseRetry,
  });
  const running = Promise.all(Array.from({ length: opts.lanes }, lane));
  const gauges = every(
    opts.gaugeIntervalMs,
    async () => {
      const backlog = await outboxBacklog(pool);
      metrics.outboxBacklog.set(backlog.undelivered);
      metrics.outboxOldestAge.set(backlog.oldestAgeSeconds);
    },
    (error) => log.warn({ err: error }, "could not read the outbox backlog"),
  );
  const pruner = every(
    opts.pruneIntervalMs,
    async () => {
      const deleted = await deleteInChunks(
        () => pruneOutbox(pool, env.OUTBOX_RETENTION_HOURS, opts.pruneChunk),
        opts.pruneChunk,
        isStopping,
      );
      if (deleted > 0)
        log.info({ deleted, retentionHours: env.OUTBOX_RETENTION_HOURS }, "pruned delivered outbox events");
    },
    (error) => log.warn({ err: error }, "outbox pruning failed"),
  );
  log.info(
    {
      sink: sink ? "http" : "pg_notify",
      signed: Boolean(sink && env.NOTIFICATION_SECRET),
      batchSize: opts.batchSize,
      concurrency: opts.concurrency,
      lanes: opts.lanes,
      lingerMs: opts.lingerMs,
    },
    "outbox dispatcher running",
  );

  return {
    rounds: () => rounds,
    /** Lets the current rounds finish (requests in flight complete, untried events stay queued), then releases everything. */
    async stop() {
      stopping = true;
      wake.wakeAll();
      await running;
      await Promise.all([gauges.stop(), pruner.stop(), listener.close()]);
      await sink?.close();
      log.info({ rounds }, "outbox dispatcher stopped");
    },
  };
}
