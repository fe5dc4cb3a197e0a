// The price of the engine's rights on the hot path: the same expiry sweep (expire_batch, 200 per call) and the
// same redemptions (redeem_ticket, one per call, one connection) on copies of one data set, with the
// functions as ticketing.harden() leaves them (SECURITY DEFINER, search_path pinned on every one), without the
// foreign-trigger guard, and as the baseline: SECURITY INVOKER, the small SQL helpers unpinned (so they can be
// inlined again), called by a session that is ticketing_engine (the same guards admit the same writes).
// `node --import tsx bench/secdef.ts [tickets] [redemptions]`. Commits do not wait for the disk (synchronous_commit
// off): a flush costs more than either function and would drown the difference. Rounds alternate the modes and
// each mode is compared with the baseline of its own round, so a machine that slows down hits all alike.
import { seedExpiredBacklog } from "./support/seed.ts";
import { type BenchDatabase, cloneDatabase, freshDatabase, startBenchServer, using } from "./support/server.ts";

const TICKETS = Number(process.argv[2] ?? 40_000);
const REDEMPTIONS = Number(process.argv[3] ?? 3_000);
const ROUNDS = 5;

const MODES: Record<string, string[]> = {
  "as harden leaves them": [],
  "without guard_foreign_triggers": [
    `do $$ declare r record; begin
       for r in select t.tgrelid::regclass as rel from pg_trigger t where t.tgname = 'guard_foreign_triggers' loop
         execute format('drop trigger guard_foreign_triggers on %s', r.rel);
       end loop; end $$`,
  ],
  "baseline: SECURITY INVOKER, as the engine": [
    `do $$ declare r record; begin
       for r in select p.oid::regprocedure as fn from pg_proc p where p.pronamespace = 'ticketing'::regnamespace and p.prosecdef loop
         execute format('alter function %s security invoker', r.fn);
       end loop; end $$`,
    "alter function ticketing.check_event_id(text) reset search_path",
    "alter function ticketing.check_meta(jsonb) reset search_path",
    "alter function ticketing.invalid_argument(text) reset search_path",
  ],
};
const BASELINE = "baseline: SECURITY INVOKER, as the engine";

async function measure(db: BenchDatabase, mode: string): Promise<{ sweep: number; redeem: number }> {
  const client = await db.pool.connect();
  try {
    for (const statement of MODES[mode] ?? []) await client.query(statement);
    await client.query("set synchronous_commit = off");
    if (mode === BASELINE) await client.query("set role ticketing_engine");
    let started = performance.now();
    for (;;) {
      const { rows } = await client.query<{ expired: number }>("select expired from ticketing.expire_batch(200)");
      if (!rows[0]?.expired) break;
    }
    const sweep = TICKETS / ((performance.now() - started) / 1000);
    started = performance.now();
    for (let i = 1; i <= REDEMPTIONS; i++)
      await client.query("select ticketing.redeem_ticket($1, $2)", [TICKETS + i, `gate-${i}`]);
    return { sweep, redeem: ((performance.now() - started) * 1000) / REDEMPTIONS };
  } finally {
    client.release();
  }
}

const server = await startBenchServer();
try {
  const source = await freshDatabase(server, "secdef");
  await seedExpiredBacklog(source.pool, TICKETS);
  await source.pool.query(
    `insert into ticketing.orders (id) select $1::bigint + g from generate_series(1, $2::int) g`,
    [TICKETS, REDEMPTIONS],
  );
  await source.pool.query(
    `insert into ticketing.tickets (id, order_id, valid_end)
     select $1::bigint + g, $1::bigint + g, now() + interval '1 day' from generate_series(1, $2::int) g`,
    [TICKETS, REDEMPTIONS],
  );
  await source.pool.query("vacuum analyze");
  const results: Record<string, { sweep: number[]; redeem: number[] }> = Object.fromEntries(
    Object.keys(MODES).map((mode) => [mode, { sweep: [], redeem: [] }]),
  );
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of Object.keys(MODES)) {
      const r = await using(await cloneDatabase(server, source, "secdef_run"), (db) => measure(db, mode));
      results[mode]?.sweep.push(r.sweep);
      results[mode]?.redeem.push(r.redeem);
      console.error(`round ${round + 1}: ${mode}: ${r.sweep.toFixed(0)} tickets/s, ${r.redeem.toFixed(0)} µs/redeem`);
    }
  }
  await source.drop();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const base = results[BASELINE] as { sweep: number[]; redeem: number[] };
  /** Each round's figure over the baseline's of the same round, then the median of those ratios. */
  const ratio = (xs: number[], of: number[]) => median(xs.map((x, i) => x / (of[i] as number)));
  console.log(
    `PostgreSQL ${server.version}; ${TICKETS} tickets swept, ${REDEMPTIONS} redemptions; medians of ${ROUNDS} rounds`,
  );
  console.log(
    "| functions | sweep tickets/s | vs baseline | redeem_ticket µs | vs baseline |\n| --- | ---: | ---: | ---: | ---: |",
  );
  for (const [mode, r] of Object.entries(results)) {
    console.log(
      `| ${mode} | ${median(r.sweep).toFixed(0)} | ${ratio(r.sweep, base.sweep).toFixed(2)} | ${median(r.redeem).toFixed(0)} | ${ratio(r.redeem, base.redeem).toFixed(2)} |`,
    );
  }
} finally {
  await server.stop();
}
