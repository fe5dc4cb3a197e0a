// Delivery: `count` outbox events committed at once, delivered by the daemon's dispatcher to a local
// HTTP sink (NOTIFICATION_URL, signed), timed until none is left undelivered.
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type pg from "pg";
import { asEngine } from "../test/support/engine.ts";
import { startDaemonProcess } from "./support/childProcess.ts";
import { startCpuMeter } from "./support/cpu.ts";
import { percentile, type Row } from "./support/report.ts";
import { type BenchServer, freshDatabase, using } from "./support/server.ts";

const POLL_MS = 50;
/** A run that delivers nothing for this long is stuck (no dispatcher, a sink the daemon cannot reach). */
const STALL_MS = 30_000;

/** notification-orchestrator's stand-in: answers 204 at once and counts the distinct event ids it got. */
async function startSink() {
  const seen = new Set<string>();
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests += 1;
    const id = req.headers["webhook-id"];
    if (typeof id === "string") seen.add(id);
    req.resume();
    req.on("end", () => res.writeHead(204).end());
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    distinct: () => seen.size,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** CPU seconds (user + system) of a live process, from /proc; undefined where there is none. */
function processCpuSeconds(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** This process's CPU seconds: the sink (and the bench's own polling). */
const ownCpuSeconds = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

/** One ticket event per ticket, shaped like the state machine's, committed in one transaction (planted as the engine). */
const insertTicketEvents = (pool: pg.Pool, count: number) =>
  asEngine(
    pool,
    `insert into ticketing.outbox (event_id, type, ticket_id, order_id, seq, payload)
     select format('ticket:%s:1', g), 'ticket.expired', g, (g - 1) / 4 + 1, 1,
            jsonb_build_object('ticket_id', g, 'order_id', (g - 1) / 4 + 1, 'seq', 1, 'prev_status', 'usable',
                               'status', 'expired', 'valid_end', now() - interval '1 day', 'cause_event_id', 'expire',
                               'event', 'expire_tickets', 'meta', '{}'::jsonb, 'occurred_at', clock_timestamp())
       from generate_series(1, $1::int) g`,
    [count],
  );

const CLAIM_BATCH = 500;

/**
 * The claim alone, before and after it moved into a function, in one run on one backlog: `rounds` claims
 * of 500 events, each in a transaction rolled back (so every claim sees the same backlog), alternating
 * between ticketing.claim_outbox and its own statement run bare the way the dispatcher used to run it (a
 * named prepared statement under the same planner settings, `set local`). The bare statement is read
 * from the function itself, so the two can never drift apart.
 */
async function claimBenchmark(
  server: BenchServer,
  backlog: number,
  rounds: number,
  progress: (message: string) => void,
) {
  progress(
    `delivery claim: ${rounds} claims of ${CLAIM_BATCH} from ${backlog} undelivered events, function vs bare statement`,
  );
  return using(await freshDatabase(server, "claim"), async (db) => {
    await insertTicketEvents(db.pool, backlog);
    await db.pool.query("analyze ticketing.outbox");
    const { rows } = await db.pool.query<{ body: string; config: string[] }>(
      "select prosrc as body, proconfig as config from pg_proc where proname = 'claim_outbox' and pronamespace = 'ticketing'::regnamespace",
    );
    const fn = rows[0];
    const statement = /return query([\s\S]*);\s*end\s*$/.exec(fn?.body ?? "")?.[1];
    if (!fn || !statement) throw new Error("ticketing.claim_outbox's statement not found");
    const bare = statement.replaceAll("p_limit", "$1").replaceAll("p_source", "$2");
    const settings = fn.config
      .filter((c) => !c.startsWith("search_path="))
      .map((c) => `set local ${c.replace("=", " = ")}`)
      .join("; ");
    const client = await db.pool.connect();
    const times: Record<"function" | "bare", number[]> = { function: [], bare: [] };
    try {
      const claimOnce = async (kind: "function" | "bare") => {
        const started = performance.now();
        await client.query("begin");
        if (kind === "bare") {
          await client.query(settings);
          await client.query({ name: "bare-claim", text: bare, values: [CLAIM_BATCH, "/bench"] });
        } else {
          await client.query({
            name: "function-claim",
            text: "select * from ticketing.claim_outbox($1, $2, 1000, 3600000)",
            values: [CLAIM_BATCH, "/bench"],
          });
        }
        await client.query("rollback");
        times[kind].push(performance.now() - started);
      };
      // Warm-up: both plans made and cached, the backlog in shared buffers.
      for (let i = 0; i < 10; i++) for (const kind of ["bare", "function"] as const) await claimOnce(kind);
      times.bare = [];
      times.function = [];
      for (let i = 0; i < rounds; i++) for (const kind of ["bare", "function"] as const) await claimOnce(kind);
    } finally {
      client.release();
    }
    const row = (kind: "function" | "bare", label: string): Row => {
      const sorted = [...times[kind]].sort((a, b) => a - b);
      const seconds = sorted.reduce((sum, ms) => sum + ms, 0) / 1000;
      return {
        benchmark: "delivery claim",
        case: label,
        count: rounds * CLAIM_BATCH,
        unit: "events",
        seconds,
        perSecond: (rounds * CLAIM_BATCH) / seconds,
        p50Ms: percentile(sorted, 50),
        p99Ms: percentile(sorted, 99),
      };
    };
    const baseline = row("bare", "bare statement (as before)");
    const inFunction = row("function", "ticketing.claim_outbox");
    return [
      { ...baseline, ratio: 1 },
      {
        ...inFunction,
        ratio: inFunction.perSecond / baseline.perSecond,
        target: ">= 0.9x",
        met: inFunction.perSecond / baseline.perSecond >= 0.9,
        note: `one claim of ${CLAIM_BATCH} (begin, claim, rollback) from ${backlog} undelivered events`,
      },
    ];
  });
}

async function httpDeliveryBenchmark(
  server: BenchServer,
  count: number,
  progress: (message: string) => void,
): Promise<Row[]> {
  progress(`delivery: ${count} outbox events to a local HTTP sink`);
  const sink = await startSink();
  try {
    return await using(await freshDatabase(server, "delivery"), async (db) => {
      const daemon = await startDaemonProcess(db.url, {
        NOTIFICATION_URL: sink.url,
        NOTIFICATION_SECRET: "whsec_YmVuY2gtc2VjcmV0LTAxMjM0NTY3ODktYWJjZGVm",
      });
      try {
        // The daemon's footprint before any event: what the dispatcher adds is the peak minus this.
        const idleRss = daemon.peakRssMb();
        const cpu = startCpuMeter(server.postmaster, [daemon.pid]);
        const daemonCpuAtStart = processCpuSeconds(daemon.pid);
        const sinkCpuAtStart = ownCpuSeconds();
        const started = performance.now();
        // One ticket event per ticket, shaped like the state machine's, committed in one transaction.
        const insertStarted = performance.now();
        await insertTicketEvents(db.pool, count);
        // Part of the timed run (the dispatcher cannot start before this commit), shown apart.
        const insertSeconds = (performance.now() - insertStarted) / 1000;
        let lastDistinct = 0;
        let lastProgressAt = performance.now();
        // Done when nothing is left undelivered. The database is asked only once the sink has seen every
        // event (a count over the backlog every poll would bill PostgreSQL for the bench's own watching).
        for (;;) {
          if (sink.distinct() >= count) {
            const { rows } = await db.pool.query<{ left: boolean }>(
              "select exists (select from ticketing.outbox where published_at is null) as left",
            );
            if (!rows[0]?.left) break;
          }
          if (sink.distinct() > lastDistinct) {
            lastDistinct = sink.distinct();
            lastProgressAt = performance.now();
          } else if (performance.now() - lastProgressAt > STALL_MS) {
            const { rows } = await db.pool.query<{ left: number }>(
              "select count(*)::int as left from ticketing.outbox where published_at is null",
            );
            throw new Error(
              `delivery stalled: ${sink.distinct()} of ${count} events reached the sink, ${rows[0]?.left} undelivered`,
            );
          }
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
        const seconds = (performance.now() - started) / 1000;
        const cpuSeconds = cpu.read();
        const daemonCpu = (processCpuSeconds(daemon.pid) ?? Number.NaN) - (daemonCpuAtStart ?? Number.NaN);
        const sinkCpu = ownCpuSeconds() - sinkCpuAtStart;
        // Where the time goes: the daemon, the sink (this process) and PostgreSQL, per event.
        const perEvent = (s: number) => (Number.isFinite(s) ? `${Math.round((s / count) * 1e6)}` : "?");
        const split = `CPU µs/event: daemon ${perEvent(daemonCpu)}, sink ${perEvent(sinkCpu)}, PostgreSQL ${perEvent((cpuSeconds ?? Number.NaN) - daemonCpu)}`;
        if (sink.distinct() !== count) throw new Error(`the sink got ${sink.distinct()} distinct events, not ${count}`);
        const perSecond = count / seconds;
        const peak = daemon.peakRssMb();
        return [
          {
            benchmark: "delivery",
            case: "daemon -> local HTTP sink, signed",
            count,
            unit: "events",
            seconds,
            perSecond,
            peakRssMb: peak,
            cpuSeconds,
            target: ">= 5,000/s, RSS <= 200 MB",
            met: perSecond >= 5000 && (peak ?? 0) <= 200,
            note: `${sink.requests() - count} redelivered; ${split}; RSS ${idleRss?.toFixed(0) ?? "?"} MB before the first event; the insert took ${insertSeconds.toFixed(1)} s`,
          },
        ];
      } finally {
        await daemon.stop();
      }
    });
  } finally {
    await sink.close();
  }
}

/** The daemon's delivery end to end, then its claim alone (after, so its backlog's writes cost the first nothing). */
export async function deliveryBenchmark(
  server: BenchServer,
  count: number,
  progress: (message: string) => void,
): Promise<Row[]> {
  const delivery = await httpDeliveryBenchmark(server, count, progress);
  return [...delivery, ...(await claimBenchmark(server, count, 200, progress))];
}
