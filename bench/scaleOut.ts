// Scale-out: one expiry backlog swept by one daemon process, then (on a copy) by two, each process
// running one sweep (WORKER_CONCURRENCY 1) outside the shared queue so both really work the backlog at once.
import { backlogDatabase, DAEMON_BATCH } from "./expiry.ts";
import type { Row } from "./support/report.ts";
import { type BenchServer, cloneDatabase, using } from "./support/server.ts";
import { checkExpired, runSweeps, type SweepRun } from "./support/sweep.ts";

export async function scaleOutBenchmark(
  server: BenchServer,
  tickets: number,
  progress: (message: string) => void,
): Promise<Row[]> {
  progress(`scale-out: building a backlog of ${tickets} tickets`);
  const source = await backlogDatabase(server, tickets);
  try {
    const sweep = async (processes: number): Promise<SweepRun> => {
      progress(`scale-out: ${processes} daemon process(es)`);
      return using(await cloneDatabase(server, source, `scale${processes}`), async (db) => {
        const run = await runSweeps(db, {
          processes,
          shared: false,
          batchSize: DAEMON_BATCH,
          postmaster: server.postmaster,
        });
        await checkExpired(db, tickets);
        return run;
      });
    };
    const one = await sweep(1);
    const two = await sweep(2);
    const baseline = tickets / one.seconds;
    const perSecond = tickets / two.seconds;
    const row = (processes: number, run: SweepRun): Row => ({
      benchmark: "scale-out",
      case: `${processes} daemon process${processes > 1 ? "es" : ""}, one sweep each, concurrency 1`,
      count: tickets,
      unit: "tickets",
      seconds: run.seconds,
      perSecond: tickets / run.seconds,
      peakRssMb: run.peakRssMb,
      cpuSeconds: run.cpuSeconds,
      note:
        processes > 1
          ? `tickets per process: ${run.perProcess.map((n) => n.toLocaleString("en-US")).join(" + ")}`
          : undefined,
    });
    return [
      { ...row(1, one), ratio: 1 },
      { ...row(2, two), ratio: perSecond / baseline, target: ">= 1.0x", met: perSecond / baseline >= 1 },
    ];
  } finally {
    await source.drop();
  }
}
