// Expiry: a backlog of usable tickets past valid_end, swept by the real daemon (`expire_tickets`,
// batch_size 200, queued as `ticket-lifecycle expire` does) against the ceiling of bench/ceiling.sql (the
// same writes made the fastest way we know, on the contract's schema). The issue's variant (one statement
// per 10,000-ticket chunk, one session, contract's schema) is measured too, to show the ceiling beats it.
// Every case starts from a copy of one data set; the cases take turns, round after round, so a noisy
// neighbour weighs on all of them alike; each row is the median round, its note the spread.
// In the full run the ceiling's statement (one session) also runs on the schema with each of the
// project's additions, to show what each costs.

import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { knobs } from "../src/config/knobs.ts";
import { startCpuMeter } from "./support/cpu.ts";
import type { Row } from "./support/report.ts";
import { seedExpiredBacklog } from "./support/seed.ts";
import { type BenchDatabase, type BenchServer, cloneDatabase, freshDatabase, using } from "./support/server.ts";
import { checkExpired, runSweeps } from "./support/sweep.ts";

export const DAEMON_BATCH = 200;
const VARIANT_CHUNK = 10_000;
/** The ceiling: 10,000 tickets per statement in two sessions at once (docs/performance.md says why these). */
const CEILING = { chunk: 10_000, parts: 2 };

const ceilingSql = readFileSync(new URL("./ceiling.sql", import.meta.url), "utf8");
const contractSchemaSql = readFileSync(new URL("./support/contractSchema.sql", import.meta.url), "utf8");

interface Timed {
  seconds: number;
  cpuSeconds: number | undefined;
  peakRssMb?: number | undefined;
}

/** bench/ceiling.sql in `parts` sessions at once, each chunk after chunk (its own transaction) until none is left. */
export async function runCeiling(
  db: BenchDatabase,
  options: { chunk: number; parts: number },
  postmaster: number | undefined,
): Promise<Timed> {
  const clients = await Promise.all(Array.from({ length: options.parts }, () => db.pool.connect()));
  try {
    const cpu = startCpuMeter(postmaster);
    const started = performance.now();
    await Promise.all(
      clients.map(async (client, part) => {
        const statement = ceilingSql
          .replaceAll(":chunk", String(options.chunk))
          .replaceAll(":parts", String(options.parts))
          .replaceAll(":part", String(part));
        for (;;) {
          await client.query("begin");
          // On the project's own schema the guard admits only the state machine's role (or, before it
          // existed, the state machine's flag); on the contract's schema there is no guard left.
          await client.query(
            `select set_config('ticketing.state_machine', 'on', true),
                    (select set_config('role', 'ticketing_engine', true) where exists (select 1 from pg_roles where rolname = 'ticketing_engine'))`,
          );
          const { rows } = await client.query<{ expired: number }>(statement);
          await client.query("commit");
          if (!rows[0]?.expired) break;
        }
      }),
    );
    return { seconds: (performance.now() - started) / 1000, cpuSeconds: cpu.read() };
  } finally {
    for (const client of clients) client.release();
  }
}

/**
 * A notification receiver that answers nothing until closed: the daemon's dispatcher sends its first round
 * and waits, so the sweep runs without event delivery beside it (closing answers 503 to what is pending).
 */
async function startSilentReceiver(): Promise<{ url: string; close(): Promise<void> }> {
  const pending = new Set<http.ServerResponse>();
  const server = http.createServer((request, response) => {
    request.resume();
    pending.add(response);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/events`,
    async close() {
      for (const response of pending) response.writeHead(503).end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A migrated database holding `tickets` expired-but-usable tickets (4 per order), vacuumed and analysed. */
export async function backlogDatabase(server: BenchServer, tickets: number): Promise<BenchDatabase> {
  const db = await freshDatabase(server, "backlog");
  await seedExpiredBacklog(db.pool, tickets);
  await db.pool.query("checkpoint");
  return db;
}

const label = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n));

/** A copy of `source`, reshaped by `schemaSql`, on which `run` works; checked and dropped afterwards. */
async function onCopy(
  server: BenchServer,
  source: BenchDatabase,
  tickets: number,
  schemaSql: string[],
  run: (db: BenchDatabase) => Promise<Timed>,
): Promise<Timed> {
  return using(await cloneDatabase(server, source, "expiry"), async (db) => {
    for (const sql of schemaSql) await db.pool.query(sql);
    if (schemaSql.length) await db.pool.query("vacuum analyze ticketing.tickets");
    const timed = await run(db);
    await checkExpired(db, tickets);
    return timed;
  });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = (sorted.length - 1) / 2;
  return ((sorted[Math.floor(mid)] as number) + (sorted[Math.ceil(mid)] as number)) / 2;
};
const spread = (values: number[], format: (n: number) => string) =>
  values.length > 1 ? `${format(Math.min(...values))}–${format(Math.max(...values))}` : "";

/** One way to expire the backlog: the schema it runs on (SQL applied to the copy) and how it runs. */
interface Case {
  name: string;
  schemaSql: string[];
  run(db: BenchDatabase): Promise<Timed>;
  /** The case this one's ratio is taken against, in the same round. */
  baseline?: string;
  target?: { text: string; met(ratio: number, peakRssMb: number | undefined): boolean };
}

function expiryCases(server: BenchServer, schemaCosts: boolean): Case[] {
  const ceiling = (chunk: number, parts: number) => (db: BenchDatabase) =>
    runCeiling(db, { chunk, parts }, server.postmaster);
  const daemon =
    (env?: Record<string, string>, afterSweeps?: () => Promise<void>) =>
    (db: BenchDatabase): Promise<Timed> =>
      runSweeps(db, {
        processes: 1,
        shared: true,
        batchSize: DAEMON_BATCH,
        postmaster: server.postmaster,
        ...(env ? { env } : {}),
        ...(afterSweeps ? { afterSweeps } : {}),
      });
  const ceilingName = `ceiling, ${CEILING.chunk.toLocaleString("en-US")}/statement, ${CEILING.parts} sessions, contract's schema`;
  const cases: Case[] = [
    { name: ceilingName, schemaSql: [contractSchemaSql], run: ceiling(CEILING.chunk, CEILING.parts) },
    {
      name: `issue's variant, ${VARIANT_CHUNK.toLocaleString("en-US")}/statement, 1 session, contract's schema`,
      schemaSql: [contractSchemaSql],
      run: ceiling(VARIANT_CHUNK, 1),
      baseline: ceilingName,
      target: { text: "< 1.0x (the ceiling beats it)", met: (ratio) => ratio < 1 },
    },
    {
      name: `daemon, batch_size ${DAEMON_BATCH}, project's schema`,
      schemaSql: [],
      run: daemon(),
      baseline: ceilingName,
      target: {
        text: ">= 0.7x, RSS <= 200 MB",
        met: (ratio, rss) => ratio >= 0.7 && (rss ?? 0) <= 200,
      },
    },
    {
      // The same sweep with the events left undelivered meanwhile: what delivery beside it costs.
      name: `daemon, batch_size ${DAEMON_BATCH}, project's schema, delivery held`,
      schemaSql: [],
      async run(db) {
        const receiver = await startSilentReceiver();
        // The longest timeout start-up allows: no attempt ends while the sweep runs.
        const { leaseSeconds, leaseMarginMs } = knobs.requests;
        const timeoutMs = String(leaseSeconds * 1000 - leaseMarginMs);
        return daemon({ NOTIFICATION_URL: receiver.url, HTTP_TIMEOUT_MS: timeoutMs }, () => receiver.close())(db);
      },
      baseline: ceilingName,
    },
  ];
  if (!schemaCosts) return cases;
  const base = "schema cost: 1 session, contract's schema";
  const additions: Array<[string, string]> = [
    [
      "tickets.status foreign key",
      "alter table ticketing.tickets add foreign key (status) references ticketing.ticket_statuses",
    ],
    [
      "audit.ticket_id foreign key",
      "alter table ticketing.ticket_status_audit add foreign key (ticket_id) references ticketing.tickets",
    ],
    ["audit unique (ticket_id, seq)", "alter table ticketing.ticket_status_audit add unique (ticket_id, seq)"],
    ["sweep's partial index", "create index on ticketing.tickets (valid_end, id) where status = 'usable'"],
    [
      "outbox delivery indexes",
      `create index on ticketing.outbox (next_attempt_at, id) where published_at is null;
       create index on ticketing.outbox (ticket_id, id) where published_at is null;
       create index on ticketing.outbox (published_at) where published_at is not null`,
    ],
  ];
  return [
    ...cases,
    { name: base, schemaSql: [contractSchemaSql], run: ceiling(VARIANT_CHUNK, 1) },
    ...additions.map(([name, sql]) => ({
      name: `schema cost: 1 session, + ${name}`,
      schemaSql: [contractSchemaSql, sql],
      run: ceiling(VARIANT_CHUNK, 1),
      baseline: base,
    })),
    { name: "schema cost: 1 session, project's schema", schemaSql: [], run: ceiling(VARIANT_CHUNK, 1), baseline: base },
  ];
}

export async function expiryBenchmark(
  server: BenchServer,
  sizes: { tickets: number; rounds: number; schemaCosts: boolean },
  progress: (message: string) => void,
): Promise<Row[]> {
  const { tickets, rounds } = sizes;
  const cases = expiryCases(server, sizes.schemaCosts);
  progress(`expiry ${label(tickets)}: building the backlog`);
  const source = await backlogDatabase(server, tickets);
  // The cases take turns, round after round: a noisy neighbour weighs on all of them alike.
  const results = new Map<string, Timed[]>(cases.map((c) => [c.name, []]));
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const c of cases) {
        progress(`expiry ${label(tickets)}, round ${round}/${rounds}: ${c.name}`);
        results.get(c.name)?.push(await onCopy(server, source, tickets, c.schemaSql, c.run));
      }
    }
  } finally {
    await source.drop();
  }

  const rate = (t: Timed) => tickets / t.seconds;
  return cases.map((c): Row => {
    const timed = results.get(c.name) as Timed[];
    const rates = timed.map(rate);
    // Each ratio is taken within its round, then the median round is shown.
    const base = c.baseline ? (results.get(c.baseline) as Timed[]) : timed;
    const ratios = timed.map((t, i) => rate(t) / rate(base[i] as Timed));
    // Time, CPU and RSS of the round closest to the median rate.
    const middle = median(rates);
    const mid = timed.reduce((a, b) => (Math.abs(rate(b) - middle) < Math.abs(rate(a) - middle) ? b : a));
    const ratio = median(ratios);
    const note = [
      spread(rates, (n) => Math.round(n).toLocaleString("en-US")) &&
        `tickets/s ${spread(rates, (n) => Math.round(n).toLocaleString("en-US"))} over ${rounds} rounds`,
      c.baseline && spread(ratios, (n) => `${n.toFixed(2)}x`) && `ratio ${spread(ratios, (n) => `${n.toFixed(2)}x`)}`,
    ]
      .filter(Boolean)
      .join(", ");
    return {
      benchmark: "expiry",
      case: `${label(tickets)}: ${c.name}`,
      count: tickets,
      unit: "tickets",
      seconds: mid.seconds,
      perSecond: median(rates),
      ratio,
      cpuSeconds: mid.cpuSeconds,
      peakRssMb: mid.peakRssMb,
      ...(note ? { note } : {}),
      ...(c.target ? { target: c.target.text, met: c.target.met(ratio, mid.peakRssMb) } : {}),
    };
  });
}
