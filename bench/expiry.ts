// Expiry: a backlog of usable tickets past valid_end, swept by the real daemon (`expire_tickets`,
// batch_size 200, queued as `ticket-lifecycle expire` does) versus the set-based ceiling of
// bench/ceiling.sql (one statement per 10,000-ticket chunk). Both start from a copy of one data set.
import { readFileSync } from "node:fs";
import { startCpuMeter } from "./support/cpu.ts";
import type { Row } from "./support/report.ts";
import { seedExpiredBacklog } from "./support/seed.ts";
import { type BenchDatabase, type BenchServer, cloneDatabase, freshDatabase, using } from "./support/server.ts";
import { checkExpired, runSweeps } from "./support/sweep.ts";

export const CEILING_CHUNK = 10_000;
export const DAEMON_BATCH = 200;
const ceilingSql = readFileSync(new URL("./ceiling.sql", import.meta.url), "utf8");

/** The ceiling: chunk after chunk, each its own transaction, until nothing is left. */
export async function runCeiling(
  db: BenchDatabase,
  chunk: number,
  postmaster: number | undefined,
): Promise<{ seconds: number; cpuSeconds: number | undefined }> {
  const client = await db.pool.connect();
  try {
    const statement = ceilingSql.replaceAll(":chunk", String(chunk));
    const cpu = startCpuMeter(postmaster);
    const started = performance.now();
    for (;;) {
      await client.query("begin");
      await client.query("select set_config('role', 'ticketing_engine', true)");
      const { rows } = await client.query<{ expired: number }>(statement);
      await client.query("commit");
      if (!rows[0]?.expired) break;
    }
    return { seconds: (performance.now() - started) / 1000, cpuSeconds: cpu.read() };
  } finally {
    client.release();
  }
}

/** A migrated database holding `tickets` expired-but-usable tickets (4 per order), vacuumed and analysed. */
export async function backlogDatabase(server: BenchServer, tickets: number): Promise<BenchDatabase> {
  const db = await freshDatabase(server, "backlog");
  await seedExpiredBacklog(db.pool, tickets);
  await db.pool.query("checkpoint");
  return db;
}

const label = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n));

export async function expiryBenchmark(
  server: BenchServer,
  sizes: number[],
  progress: (message: string) => void,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const tickets of sizes) {
    progress(`expiry ${label(tickets)}: building the backlog`);
    const source = await backlogDatabase(server, tickets);
    try {
      progress(`expiry ${label(tickets)}: ceiling`);
      const ceiling = await using(await cloneDatabase(server, source, "ceiling"), async (db) => {
        const run = await runCeiling(db, CEILING_CHUNK, server.postmaster);
        await checkExpired(db, tickets);
        return run;
      });
      const baseline = tickets / ceiling.seconds;
      rows.push({
        benchmark: "expiry",
        case: `${label(tickets)}: ceiling, ${CEILING_CHUNK.toLocaleString("en-US")}/statement`,
        count: tickets,
        unit: "tickets",
        seconds: ceiling.seconds,
        perSecond: baseline,
        ratio: 1,
        cpuSeconds: ceiling.cpuSeconds,
      });

      progress(`expiry ${label(tickets)}: daemon`);
      const sweep = await using(await cloneDatabase(server, source, "sweep"), async (db) => {
        const run = await runSweeps(db, {
          processes: 1,
          shared: true,
          batchSize: DAEMON_BATCH,
          postmaster: server.postmaster,
        });
        await checkExpired(db, tickets);
        return run;
      });
      const perSecond = tickets / sweep.seconds;
      rows.push({
        benchmark: "expiry",
        case: `${label(tickets)}: daemon, batch_size ${DAEMON_BATCH}`,
        count: tickets,
        unit: "tickets",
        seconds: sweep.seconds,
        perSecond,
        ratio: perSecond / baseline,
        peakRssMb: sweep.peakRssMb,
        cpuSeconds: sweep.cpuSeconds,
        target: ">= 0.5x, RSS <= 200 MB",
        met: perSecond / baseline >= 0.5 && (sweep.peakRssMb ?? 0) <= 200,
      });
    } finally {
      await source.drop();
    }
  }
  return rows;
}
