// Latency: request_refund -> ticket refunded, one request at a time on an otherwise idle daemon. The
// clock stops when the refund's commit is heard (its outbox insert notifies ticketing_outbox) and the
// ticket reads refunded.
import pg from "pg";
import { startDaemonProcess } from "./support/childProcess.ts";
import { startCpuMeter } from "./support/cpu.ts";
import { percentile, type Row } from "./support/report.ts";
import { seedUsableTickets } from "./support/seed.ts";
import { type BenchServer, freshDatabase, using } from "./support/server.ts";

const TIMEOUT_MS = 10_000;

export async function latencyBenchmark(
  server: BenchServer,
  count: number,
  progress: (message: string) => void,
): Promise<Row[]> {
  progress(`latency: ${count} sequential refund requests`);
  return using(await freshDatabase(server, "latency"), async (db) => {
    await seedUsableTickets(db.pool, count);
    const daemon = await startDaemonProcess(db.url);
    const listener = new pg.Client({ connectionString: db.url });
    try {
      await listener.connect();
      await listener.query("listen ticketing_outbox");
      // Arrival times of notifications not yet looked at, and whoever waits for the next one.
      const heard: number[] = [];
      let wake: (() => void) | undefined;
      listener.on("notification", () => {
        heard.push(performance.now());
        wake?.();
      });
      const nextNotification = async (): Promise<number> => {
        while (heard.length === 0) {
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`no outbox notification within ${TIMEOUT_MS} ms`)),
              TIMEOUT_MS,
            );
            wake = () => {
              clearTimeout(timer);
              wake = undefined;
              resolve();
            };
          });
        }
        return heard.shift() as number;
      };

      const caller = await db.pool.connect();
      const latencies: number[] = [];
      const cpu = startCpuMeter(server.postmaster, [daemon.pid]);
      const started = performance.now();
      try {
        for (let ticket = 1; ticket <= count; ticket++) {
          heard.length = 0;
          const sent = performance.now();
          await caller.query("select ticketing.request_refund($1, $2)", [ticket, `bench-latency-${ticket}`]);
          for (;;) {
            const at = await nextNotification();
            const { rows } = await caller.query<{ status: string }>(
              "select status from ticketing.tickets where id = $1",
              [ticket],
            );
            if (rows[0]?.status === "refunded") {
              latencies.push(at - sent);
              break;
            }
          }
        }
      } finally {
        caller.release();
      }
      const seconds = (performance.now() - started) / 1000;
      const cpuSeconds = cpu.read();
      latencies.sort((a, b) => a - b);
      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      const peak = daemon.peakRssMb();
      return [
        {
          benchmark: "latency",
          case: "request_refund -> refunded, sequential",
          count,
          unit: "requests",
          seconds,
          perSecond: count / seconds,
          p50Ms: p50,
          p99Ms: p99,
          peakRssMb: peak,
          cpuSeconds,
          target: "p50 <= 10 ms, p99 <= 50 ms",
          met: p50 <= 10 && p99 <= 50 && (peak ?? 0) <= 200,
          note: `max ${percentile(latencies, 100).toFixed(1)} ms, mean ${(latencies.reduce((a, b) => a + b, 0) / latencies.length).toFixed(1)} ms`,
        },
      ];
    } finally {
      await listener.end().catch(() => {});
      await daemon.stop();
    }
  });
}
