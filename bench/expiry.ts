// Expiry: a backlog of usable tickets past valid_end, swept by the real daemon (`expire_tickets`,
// batch_size 200, queued as `ticket-lifecycle expire` does) against the ceiling of bench/ceiling.sql (the
// same writes made the fastest way we know, on the contract's schema). The variant (one statement
// per 10,000-ticket chunk, one session, contract's schema) is measured too, to show the ceiling beats it.
// Every case starts from a copy of one data set; the cases take turns, round after round, so a noisy
// neighbour weighs on all of them alike; each row is the median round, its note the spread.
// In the full run the ceiling's statement also runs once on the schema with each of the project's
// additions, to show what each costs.
import { readFileSync } from "node:fs";
import { startCpuMeter } from "./support/cpu.ts";
import type { Row } from "./support/report.ts";
import { seedExpiredBacklog } from "./support/seed.ts";
import { type BenchDatabase, type BenchServer, cloneDatabase, freshDatabase, using } from "./support/server.ts";
import { checkExpired, runSweeps } from "./support/sweep.ts";

export const DAEMON_BATCH = 200;
const VARIANT_CHUNK = 10_000;
/** The ceiling: the whole backlog in one statement per session, two sessions (one per core here). */
const CEILING = { chunk: 1_000_000_000, parts: 2 };

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
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
};
const spread = (values: number[], format: (n: number) => string) =>
  values.length > 1 ? `${format(Math.min(...values))}–${format(Math.max(...values))} over ${values.length} rounds` : "";
const perSecondText = (n: number) => Math.round(n).toLocaleString("en-US");
const ratioText = (n: number) => `${n.toFixed(2)}x`;

/** What each of the project's additions to the contract's schema costs the ceiling's statement (one session). */
const SCHEMA_STEPS: Array<{ name: string; sql: string[] }> = [
  { name: "contract's schema", sql: [contractSchemaSql] },
  {
    name: "+ tickets.status foreign key",
    sql: [
      contractSchemaSql,
      "alter table ticketing.tickets add foreign key (status) references ticketing.ticket_statuses",
    ],
  },
  {
    name: "+ audit.ticket_id foreign key",
    sql: [
      contractSchemaSql,
      "alter table ticketing.ticket_status_audit add foreign key (ticket_id) references ticketing.tickets",
    ],
  },
  {
    name: "+ audit unique (ticket_id, seq)",
    sql: [contractSchemaSql, "alter table ticketing.ticket_status_audit add unique (ticket_id, seq)"],
  },
  {
    name: "+ outbox delivery indexes",
    sql: [
      contractSchemaSql,
      `create index on ticketing.outbox (next_attempt_at, id) where published_at is null;
       create index on ticketing.outbox (ticket_id, id) where published_at is null;
       create index on ticketing.outbox (published_at) where published_at is not null`,
    ],
  },
  { name: "project's schema (all of it)", sql: [] },
];

export async function expiryBenchmark(
  server: BenchServer,
  sizes: { tickets: number; rounds: number; schemaCosts: boolean },
  progress: (message: string) => void,
): Promise<Row[]> {
  const { tickets, rounds } = sizes;
  const rows: Row[] = [];
  progress(`expiry ${label(tickets)}: building the backlog`);
  const source = await backlogDatabase(server, tickets);
  try {
    const cases = {
      variant: [] as Timed[],
      ceiling: [] as Timed[],
      daemon: [] as Timed[],
    };
    for (let round = 1; round <= rounds; round++) {
      progress(`expiry ${label(tickets)}, round ${round}/${rounds}: the issue's variant`);
      cases.variant.push(
        await onCopy(server, source, tickets, [contractSchemaSql], (db) =>
          runCeiling(db, { chunk: VARIANT_CHUNK, parts: 1 }, server.postmaster),
        ),
      );
      progress(`expiry ${label(tickets)}, round ${round}/${rounds}: ceiling`);
      cases.ceiling.push(
        await onCopy(server, source, tickets, [contractSchemaSql], (db) => runCeiling(db, CEILING, server.postmaster)),
      );
      progress(`expiry ${label(tickets)}, round ${round}/${rounds}: daemon`);
      cases.daemon.push(
        await onCopy(server, source, tickets, [], (db) =>
          runSweeps(db, { processes: 1, shared: true, batchSize: DAEMON_BATCH, postmaster: server.postmaster }),
        ),
      );
    }

    const rate = (t: Timed) => tickets / t.seconds;
    const ceilingRates = cases.ceiling.map(rate);
    // Ratios are taken round by round (both measured minutes apart at most), then the median is shown.
    const ratiosTo = (timed: Timed[]) => timed.map((t, i) => rate(t) / (ceilingRates[i] as number));
    const row = (name: string, timed: Timed[], extra: Partial<Row> = {}): Row => {
      const rates = timed.map(rate);
      const ratios = ratiosTo(timed);
      const mid = timed[rates.indexOf(median(rates))] as Timed;
      return {
        benchmark: "expiry",
        case: `${label(tickets)}: ${name}`,
        count: tickets,
        unit: "tickets",
        seconds: mid.seconds,
        perSecond: median(rates),
        ratio: median(ratios),
        cpuSeconds: mid.cpuSeconds,
        peakRssMb: mid.peakRssMb,
        note:
          [
            spread(rates, perSecondText) && `tickets/s ${spread(rates, perSecondText)}`,
            spread(ratios, ratioText) && `ratio ${spread(ratios, ratioText)}`,
          ]
            .filter(Boolean)
            .join("; ") || undefined,
        ...extra,
      };
    };
    const variantRatios = ratiosTo(cases.variant);
    rows.push(
      row(`ceiling, whole backlog per statement, ${CEILING.parts} sessions, contract's schema`, cases.ceiling),
      row(
        `issue's variant, ${VARIANT_CHUNK.toLocaleString("en-US")}/statement, 1 session, contract's schema`,
        cases.variant,
        {
          target: "< 1.0x (the ceiling beats it)",
          met: median(variantRatios) < 1,
        },
      ),
    );
    const daemonRow = row(`daemon, batch_size ${DAEMON_BATCH}, project's schema`, cases.daemon);
    rows.push({
      ...daemonRow,
      target: ">= 0.7x, RSS <= 200 MB",
      met: (daemonRow.ratio ?? 0) >= 0.7 && (daemonRow.peakRssMb ?? 0) <= 200,
    });

    if (sizes.schemaCosts) {
      const costs: Array<{ name: string; timed: Timed }> = [];
      for (const step of SCHEMA_STEPS) {
        progress(`expiry ${label(tickets)}: schema cost, ${step.name}`);
        costs.push({
          name: step.name,
          timed: await onCopy(server, source, tickets, step.sql, (db) =>
            runCeiling(db, { chunk: CEILING.chunk, parts: 1 }, server.postmaster),
          ),
        });
      }
      const base = rate((costs[0] as { timed: Timed }).timed);
      for (const c of costs)
        rows.push({
          benchmark: "expiry",
          case: `${label(tickets)}: schema cost, ceiling in 1 session, ${c.name}`,
          count: tickets,
          unit: "tickets",
          seconds: c.timed.seconds,
          perSecond: rate(c.timed),
          ratio: rate(c.timed) / base,
          cpuSeconds: c.timed.cpuSeconds,
        });
    }
  } finally {
    await source.drop();
  }
  return rows;
}
