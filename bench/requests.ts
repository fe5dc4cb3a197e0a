// Requests: `count` refund requests enqueued raw with graphile_worker.add_jobs and drained by the daemon
// (claim, built-in approve policy, refunded + audit + outbox + order), versus the same number of no-op
// jobs drained by bare graphile-worker 0.18 with its default settings. All at WORKER_CONCURRENCY 4. The daemon
// runs three times: the runner's levers off, its defaults (batched completion), and with a local queue too, so
// their effect is measured in the same run as the baseline.
import { type Child, startBareWorker, startDaemonProcess } from "./support/childProcess.ts";
import { startCpuMeter } from "./support/cpu.ts";
import type { Row } from "./support/report.ts";
import { seedUsableTickets } from "./support/seed.ts";
import { type BenchDatabase, type BenchServer, freshDatabase, using } from "./support/server.ts";

/** The daemon's default WORKER_CONCURRENCY; the baseline runs with the same. */
const CONCURRENCY = 4;
const ADD_CHUNK = 10_000;
const POLL_MS = 200;

/**
 * Adds `count` jobs of `task` (payload built by `payloadSql` from g = 1..count) in chunks, one
 * transaction each, while the worker already runs; returns the seconds until none of them is left.
 */
async function drain(db: BenchDatabase, task: string, payloadSql: string, count: number): Promise<number> {
  const started = performance.now();
  for (let first = 1; first <= count; first += ADD_CHUNK) {
    await db.pool.query(
      `select graphile_worker.add_jobs(array(
         select row($1, ${payloadSql}, null, null, null, null, null, null)::graphile_worker.job_spec
           from generate_series($2::int, $3::int) g))`,
      [task, first, Math.min(count, first + ADD_CHUNK - 1)],
    );
  }
  for (;;) {
    const { rows } = await db.pool.query<{ left: number }>(
      `select count(*)::int as left from graphile_worker._private_jobs j
         join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = $1`,
      [task],
    );
    if (rows[0]?.left === 0) return (performance.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

interface ChildRun<T> {
  result: T;
  peakRssMb: number | undefined;
  cpuSeconds: number | undefined;
}

/** Runs `work` against a started child process, measuring its CPU (and the server's) and its peak RSS. */
async function withChild<T>(
  start: Promise<Child>,
  postmaster: number | undefined,
  work: () => Promise<T>,
): Promise<ChildRun<T>> {
  const child = await start;
  try {
    const cpu = startCpuMeter(postmaster, [child.pid]);
    const result = await work();
    return { result, cpuSeconds: cpu.read(), peakRssMb: child.peakRssMb() };
  } finally {
    await child.stop();
  }
}

/**
 * The ticket of request g: the first ticket of every order, then the second of every order, ... so the
 * requests the workers run at the same time belong to different orders. (Refunding one order's four
 * tickets at once would serialise them on the order's row lock: a real pattern, but it measures that
 * lock, not the daemon's capacity.)
 */
function spreadTicket(count: number): string {
  const orders = Math.ceil(count / 4);
  return `((g - 1) % ${orders}) * 4 + (g - 1) / ${orders} + 1`;
}

export async function requestsBenchmark(
  server: BenchServer,
  count: number,
  progress: (message: string) => void,
): Promise<Row[]> {
  progress(`requests: ${count} no-op jobs through bare graphile-worker`);
  const bare = await using(await freshDatabase(server, "bare"), (db) =>
    withChild(startBareWorker(db.url, CONCURRENCY), server.postmaster, () =>
      drain(db, "noop", "json_build_object('n', g)", count),
    ),
  );
  const baseline = count / bare.result;

  const rows: Row[] = [
    {
      benchmark: "requests",
      case: `bare graphile-worker 0.18 (default settings), no-op, concurrency ${CONCURRENCY}`,
      count,
      unit: "jobs",
      seconds: bare.result,
      perSecond: baseline,
      ratio: 1,
      peakRssMb: bare.peakRssMb,
      cpuSeconds: bare.cpuSeconds,
    },
  ];
  // The runner's levers (src/daemon.ts runnerThroughput): the defaults (both off), batched completion, and
  // with a local queue as large as the concurrency too. The same refunds each time.
  const batched = { WORKER_BATCH_DELAY_MS: "10" };
  const levers: Array<{ name: string; env: Record<string, string> }> = [
    { name: "levers off (default)", env: {} },
    { name: "batched completion", env: batched },
    {
      name: `batched completion + local queue ${CONCURRENCY}`,
      env: { ...batched, WORKER_LOCAL_QUEUE_SIZE: String(CONCURRENCY) },
    },
  ];
  for (const { name, env } of levers) {
    progress(`requests: ${count} refund requests through the daemon, ${name}`);
    const run = await using(await freshDatabase(server, "requests"), (db) => refundRequests(db, server, count, env));
    const perSecond = count / run.result;
    rows.push({
      benchmark: "requests",
      case: `daemon, refund requests, concurrency ${CONCURRENCY}, ${name}`,
      count,
      unit: "requests",
      seconds: run.result,
      perSecond,
      ratio: perSecond / baseline,
      peakRssMb: run.peakRssMb,
      cpuSeconds: run.cpuSeconds,
      ...(Object.keys(env).length === 0
        ? { target: ">= 1.0x, RSS <= 200 MB", met: perSecond / baseline >= 1 && (run.peakRssMb ?? 0) <= 200 }
        : {}),
    });
  }
  return rows;
}

/** Drains `count` refund requests through a daemon child with `env`, and checks every one was applied. */
async function refundRequests(
  db: BenchDatabase,
  server: BenchServer,
  count: number,
  env: Record<string, string>,
): Promise<ChildRun<number>> {
  await seedUsableTickets(db.pool, count);
  const run = await withChild(
    startDaemonProcess(db.url, { WORKER_CONCURRENCY: String(CONCURRENCY), ...env }),
    server.postmaster,
    () =>
      drain(
        db,
        "ticket_refund_requested",
        `json_build_object('ticket_id', ${spreadTicket(count)}, 'event_id', 'bench-refund-' || g)`,
        count,
      ),
  );
  const { rows } = await db.pool.query<{ succeeded: number; refunded: number; cancelled: number }>(`
    select (select count(*)::int from ticketing.ticket_requests where status = 'succeeded') as succeeded,
           (select count(*)::int from ticketing.tickets where status = 'refunded') as refunded,
           (select count(*)::int from ticketing.orders where status = 'cancelled') as cancelled`);
  const got = rows[0];
  if (got?.succeeded !== count || got.refunded !== count || got.cancelled !== Math.ceil(count / 4)) {
    throw new Error(`refund requests left the data wrong: ${JSON.stringify(got)}`);
  }
  return run;
}
