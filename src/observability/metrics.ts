import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { knobs } from "../config/knobs.ts";
import { activeAlertCounts } from "../sql/activeAlertCounts.ts";
import { bulkRefundProgress } from "../sql/bulkRefundProgress.ts";
import { expiryLagSeconds } from "../sql/expiryLagSeconds.ts";
import { jobConsecutiveFailures } from "../sql/jobConsecutiveFailures.ts";
import { jobCountsByTask } from "../sql/jobCountsByTask.ts";
import { liveDaemons } from "../sql/liveDaemons.ts";
import { oldestPendingRequestSeconds } from "../sql/oldestPendingRequestSeconds.ts";
import { quarantinedTicketCount } from "../sql/quarantinedTicketCount.ts";
import type { Queryable } from "../sql/queryable.ts";

const JOB_STATES = ["waiting", "scheduled", "running", "failed"] as const;

/**
 * Every metric the daemon exports, in one registry per daemon (tests run several in one process).
 * With `db`, the alert and job-health gauges are read from the database at each scrape: they are
 * counted there, across every daemon process.
 */
export function createMetrics(db?: Queryable) {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    ticketsExpired: new Counter({
      name: "tickets_expired_total",
      help: "Tickets expired by the sweep (the design's tickets.expired.count)",
      registers,
    }),
    refundSucceeded: new Counter({
      name: "tickets_refund_success_total",
      help: "Refund requests applied (the design's tickets.refund.success)",
      registers,
    }),
    changeFailed: new Counter({
      name: "tickets_change_failed_total",
      help: "Change requests that failed (the design's tickets.change.failed)",
      registers,
    }),
    ordersCompleted: new Counter({
      name: "orders_completed_total",
      help: "Orders completed by transitions this daemon applied (the design's orders.completed.count)",
      registers,
    }),
    ordersCancelled: new Counter({
      name: "orders_cancelled_total",
      help: "Orders cancelled by transitions this daemon applied",
      registers,
    }),
    requestsFinished: new Counter({
      name: "ticket_requests_finished_total",
      help: "Refund/change requests finished, by kind and outcome",
      labelNames: ["kind", "outcome"] as const,
      registers,
    }),
    jobDuration: new Histogram({
      name: "job_duration_seconds",
      help: "Duration of job runs by task and result",
      labelNames: ["task", "result"] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers,
    }),
    sweepBatchSize: new Histogram({
      name: "expire_batch_tickets",
      help: "Tickets expired per sweep batch",
      buckets: [0, 1, 10, 50, 100, 200, 500, 1000, 5000, 10000],
      registers,
    }),
    consecutiveFailures: new Gauge({
      name: "job_consecutive_failures",
      help: "Consecutive failed runs per task, as counted in the database",
      labelNames: ["task"] as const,
      registers,
      async collect() {
        if (!db) return;
        const rows = await jobConsecutiveFailures(db);
        this.reset();
        for (const row of rows) this.set({ task: row.task }, row.failures);
      },
    }),
    alertsActive: new Gauge({
      name: "alerts_active",
      help: "Active alerts by kind: every kind of ticketing.alert_kinds, 0 when none of it is active",
      labelNames: ["kind"] as const,
      registers,
      async collect() {
        if (!db) return;
        const rows = await activeAlertCounts(db);
        this.reset();
        for (const row of rows) this.set({ kind: row.kind }, row.active);
      },
    }),
    expiryLag: databaseGauge(
      db,
      registers,
      "tickets_expiry_lag_seconds",
      "Seconds since valid_end of the oldest usable ticket past it (0: the sweep is caught up)",
      expiryLagSeconds,
    ),
    oldestPendingRequest: databaseGauge(
      db,
      registers,
      "ticket_requests_oldest_pending_seconds",
      "Age of the oldest pending refund/change request (0: none pending)",
      oldestPendingRequestSeconds,
    ),
    daemonsLive: databaseGauge(
      db,
      registers,
      "daemons_live",
      `Daemons whose heartbeat is at most ${knobs.lifeline.deadAfterMs / 1000} s old, across the fleet`,
      (pool) => liveDaemons(pool, knobs.lifeline.deadAfterMs),
    ),
    bulkRefundsInProgress: databaseGauge(
      db,
      registers,
      "bulk_refunds_in_progress",
      "Bulk refunds (event cancellations) not finished yet, as recorded in the database",
      async (pool) => (await bulkRefundProgress(pool)).length,
    ),
    bulkRefundTickets: new Gauge({
      name: "bulk_refund_tickets",
      help: "Tickets of the unfinished bulk refunds by state: requested = done + failed + remaining",
      labelNames: ["state"] as const,
      registers,
      async collect() {
        if (!db) return;
        const bulks = await bulkRefundProgress(db);
        for (const state of ["requested", "done", "failed", "remaining"] as const)
          this.set(
            { state },
            bulks.reduce((sum, bulk) => sum + bulk[state], 0),
          );
      },
    }),
    ticketsQuarantined: new Gauge({
      name: "tickets_quarantined",
      help: "Tickets the expiry sweep set aside because their expiry failed on its own (ticketing.status_quarantine)",
      registers,
      async collect() {
        if (!db) return;
        this.set(await quarantinedTicketCount(db));
      },
    }),
    outboxBacklog: new Gauge({ name: "outbox_backlog", help: "Undelivered outbox events", registers }),
    outboxOldestAge: new Gauge({
      name: "outbox_oldest_undelivered_seconds",
      help: "Age of the oldest undelivered outbox event",
      registers,
    }),
    workerJobs: new Gauge({
      name: "worker_jobs",
      help: "graphile-worker jobs by task and state: waiting (due), scheduled (later), running (locked), failed (out of attempts, kept until retention)",
      labelNames: ["task", "state"] as const,
      registers,
      async collect() {
        if (!db) return;
        const counts = await jobCountsByTask(db);
        this.reset();
        for (const row of counts) for (const state of JOB_STATES) this.set({ task: row.task, state }, row[state]);
      },
    }),
    jobsRescued: new Counter({
      name: "jobs_rescued_total",
      help: "Jobs this daemon freed from a dead or stuck worker, by reason (daemon_dead, owner_unknown, lock_leaked)",
      labelNames: ["reason"] as const,
      registers,
    }),
    eventsDelivered: new Counter({ name: "events_delivered_total", help: "Outbox events delivered", registers }),
    deliveryFailures: new Counter({
      name: "event_delivery_failures_total",
      help: "Failed delivery attempts",
      registers,
    }),
    deliveryGone: new Counter({
      name: "event_delivery_gone_total",
      help: "Delivery attempts the notification endpoint answered 410 Gone",
      registers,
    }),
  };
}

/** A gauge whose one value is read from the database by `read` at each scrape. */
function databaseGauge(
  db: Queryable | undefined,
  registers: Registry[],
  name: string,
  help: string,
  read: (db: Queryable) => Promise<number>,
) {
  return new Gauge({
    name,
    help,
    registers,
    async collect() {
      if (!db) return;
      this.set(await read(db));
    },
  });
}

export type Metrics = ReturnType<typeof createMetrics>;
