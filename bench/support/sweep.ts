// Runs expiry sweeps through real daemon processes and checks that every write was made.

import { queueSweep } from "../../src/sql/queueSweep.ts";
import type { Child, LogLine } from "./childProcess.ts";
import { startDaemonProcess } from "./childProcess.ts";
import { startCpuMeter } from "./cpu.ts";
import type { BenchDatabase } from "./server.ts";

export interface SweepRun {
  seconds: number;
  /** Tickets each daemon process expired. */
  perProcess: number[];
  peakRssMb: number | undefined;
  cpuSeconds: number | undefined;
}

/** Resolves when the job's sweep logs that it finished, in whichever process ran it; rejects if it failed. */
function sweepFinished(children: Child[], jobId: string): Promise<{ child: number; line: LogLine }> {
  const ours = (line: LogLine) => String(line.jobId) === jobId;
  return Promise.race(
    children.flatMap((child, i) => [
      child.waitForLog('"expiry sweep finished"', ours).then((line) => ({ child: i, line })),
      child.waitForLog('"job run failed"', ours).then((line) => {
        throw new Error(`expire_tickets job ${jobId} failed: ${JSON.stringify(line.err ?? line)}`);
      }),
    ]),
  );
}

/**
 * Starts `processes` daemons on `db`, then queues the sweeps and times them until the last one logs
 * that it finished. `shared`: one sweep queued the way `ticket-lifecycle expire` and the crontab do
 * (queue expire_tickets: one run at a time across all daemons). Otherwise one sweep per process,
 * outside that queue, each process with WORKER_CONCURRENCY 1 so that every process takes exactly one
 * and all of them work the backlog at once.
 */
export async function runSweeps(
  db: BenchDatabase,
  options: {
    processes: number;
    shared: boolean;
    batchSize: number;
    postmaster: number | undefined;
    /** More environment for the daemons. */
    env?: Record<string, string>;
    /** Runs once the sweeps are over (or failed), before the daemons are stopped. */
    afterSweeps?: () => Promise<void>;
  },
): Promise<SweepRun> {
  // One worker slot per process when each gets its own sweep: a process with free slots could take them all.
  const env: Record<string, string> = { ...(options.shared ? {} : { WORKER_CONCURRENCY: "1" }), ...options.env };
  const children = await Promise.all(Array.from({ length: options.processes }, () => startDaemonProcess(db.url, env)));
  try {
    const payload = JSON.stringify({ batch_size: options.batchSize });
    const cpu = startCpuMeter(
      options.postmaster,
      children.map((c) => c.pid),
    );
    const started = performance.now();
    // Shared: the sweep as every daemon queues it; otherwise the same task, outside its queue and key.
    const jobIds = options.shared
      ? [await queueSweep(db.pool, options.batchSize)]
      : (
          await db.pool.query<{ id: string }>(
            `select (graphile_worker.add_job(s.task_identifier, $1::json, max_attempts => s.max_attempts)).id
               from ticketing.sweep_job() s, generate_series(1, $2)`,
            [payload, options.processes],
          )
        ).rows.map((r) => String(r.id));
    const finished = await Promise.all(jobIds.map((id) => sweepFinished(children, id)));
    const seconds = (performance.now() - started) / 1000;
    const cpuSeconds = cpu.read();
    const perProcess = children.map(() => 0);
    for (const f of finished) perProcess[f.child] = (perProcess[f.child] ?? 0) + Number(f.line.expired);
    const rss = children.map((c) => c.peakRssMb()).filter((n): n is number => n !== undefined);
    return { seconds, perProcess, peakRssMb: rss.length ? Math.max(...rss) : undefined, cpuSeconds };
  } finally {
    await options.afterSweeps?.();
    await Promise.all(children.map((c) => c.stop()));
  }
}

/** Every ticket expired once, with its audit row and event; every order completed with its event. */
export async function checkExpired(db: BenchDatabase, tickets: number): Promise<void> {
  const { rows } = await db.pool.query<Record<string, number>>(`
    select (select count(*)::int from ticketing.tickets where status = 'usable') as usable,
           (select count(*)::int from ticketing.tickets where status = 'expired') as expired,
           (select count(*)::int from ticketing.ticket_status_audit where new_status = 'expired') as audit,
           (select count(*)::int from ticketing.outbox where type = 'ticket.expired') as events,
           (select count(*)::int from ticketing.orders where status <> 'completed') as open_orders,
           (select count(*)::int from ticketing.orders) - (select count(*)::int from ticketing.outbox where type = 'order.completed') as missing_order_events`);
  const want = {
    usable: 0,
    expired: tickets,
    audit: tickets,
    events: tickets,
    open_orders: 0,
    missing_order_events: 0,
  };
  const got = rows[0] ?? {};
  const wrong = Object.entries(want).filter(([k, v]) => got[k] !== v);
  if (wrong.length)
    throw new Error(`expiry left the data wrong: ${JSON.stringify(got)} (want ${JSON.stringify(want)})`);
}
