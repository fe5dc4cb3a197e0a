// Bulk refunds (event cancellation): `tickets` usable tickets (4 per order) refunded by one
// ticketing.request_refunds call and drained by the real daemon's bulk_refund job with the built-in
// policy, against the expiry sweep (batch_size 200) on a backlog of the same size in the same run.

import { backlogDatabase, DAEMON_BATCH } from "./expiry.ts";
import { startDaemonProcess } from "./support/childProcess.ts";
import { startCpuMeter } from "./support/cpu.ts";
import type { Row } from "./support/report.ts";
import { seedUsableTickets } from "./support/seed.ts";
import { type BenchDatabase, type BenchServer, cloneDatabase, freshDatabase, using } from "./support/server.ts";
import { checkExpired, runSweeps } from "./support/sweep.ts";

/** Every ticket refunded once with its audit row and event, every order cancelled with its event, every request succeeded. */
async function checkRefunded(db: BenchDatabase, tickets: number): Promise<void> {
  const { rows } = await db.pool.query<Record<string, number>>(`
    select (select count(*)::int from ticketing.tickets where status = 'refunded') as refunded,
           (select count(*)::int from ticketing.ticket_status_audit where new_status = 'refunded') as audit,
           (select count(*)::int from ticketing.outbox where type = 'ticket.refunded') as events,
           (select count(*)::int from ticketing.ticket_requests where status = 'succeeded') as succeeded,
           (select count(*)::int from ticketing.orders where status <> 'cancelled') as open_orders,
           (select count(*)::int from ticketing.orders) - (select count(*)::int from ticketing.outbox where type = 'order.cancelled') as missing_order_events`);
  const want = {
    refunded: tickets,
    audit: tickets,
    events: tickets,
    succeeded: tickets,
    open_orders: 0,
    missing_order_events: 0,
  };
  const got = rows[0] ?? {};
  const wrong = Object.entries(want).filter(([k, v]) => got[k] !== v);
  if (wrong.length)
    throw new Error(`the bulk refund left the data wrong: ${JSON.stringify(got)} (want ${JSON.stringify(want)})`);
}

export async function bulkBenchmark(
  server: BenchServer,
  tickets: number,
  progress: (message: string) => void,
): Promise<Row[]> {
  progress(`bulk ${tickets}: expiry sweep baseline`);
  const source = await backlogDatabase(server, tickets);
  const sweep = await using(await cloneDatabase(server, source, "bulk_sweep"), async (db) => {
    const run = await runSweeps(db, {
      processes: 1,
      shared: true,
      batchSize: DAEMON_BATCH,
      postmaster: server.postmaster,
    });
    await checkExpired(db, tickets);
    return run;
  }).finally(() => source.drop());
  const sweepRate = tickets / sweep.seconds;

  progress(`bulk ${tickets}: one request_refunds call, drained by the daemon`);
  const bulk = await using(await freshDatabase(server, "bulk"), async (db) => {
    await seedUsableTickets(db.pool, tickets);
    const child = await startDaemonProcess(db.url);
    try {
      const cpu = startCpuMeter(server.postmaster, [child.pid]);
      const finished = child.waitForLog('"bulk refund finished"', undefined, 30 * 60_000);
      const called = performance.now();
      await db.pool.query(
        "select count(*) from ticketing.request_refunds(array(select generate_series(1, $1::bigint)), 'bench-cancellation')",
        [tickets],
      );
      const recorded = performance.now();
      await finished;
      const done = performance.now();
      await checkRefunded(db, tickets);
      return {
        callSeconds: (recorded - called) / 1000,
        drainSeconds: (done - recorded) / 1000,
        cpuSeconds: cpu.read(),
        peakRssMb: child.peakRssMb(),
      };
    } finally {
      await child.stop();
    }
  });
  const drainRate = tickets / bulk.drainSeconds;
  const endToEnd = tickets / (bulk.callSeconds + bulk.drainSeconds);
  return [
    {
      benchmark: "bulk",
      case: `expiry sweep, batch_size ${DAEMON_BATCH} (baseline)`,
      count: tickets,
      unit: "tickets",
      seconds: sweep.seconds,
      perSecond: sweepRate,
      ratio: 1,
      cpuSeconds: sweep.cpuSeconds,
      peakRssMb: sweep.peakRssMb,
    },
    {
      benchmark: "bulk",
      case: "request_refunds call (records the requests)",
      count: tickets,
      unit: "tickets",
      seconds: bulk.callSeconds,
      perSecond: tickets / bulk.callSeconds,
      ratio: tickets / bulk.callSeconds / sweepRate,
    },
    {
      benchmark: "bulk",
      case: "bulk_refund drain, built-in policy",
      count: tickets,
      unit: "tickets",
      seconds: bulk.drainSeconds,
      perSecond: drainRate,
      ratio: drainRate / sweepRate,
      peakRssMb: bulk.peakRssMb,
      cpuSeconds: bulk.cpuSeconds,
      target: ">= 0.5x the sweep",
      met: drainRate / sweepRate >= 0.5,
    },
    {
      benchmark: "bulk",
      case: "call + drain",
      count: tickets,
      unit: "tickets",
      seconds: bulk.callSeconds + bulk.drainSeconds,
      perSecond: endToEnd,
      ratio: endToEnd / sweepRate,
    },
  ];
}
