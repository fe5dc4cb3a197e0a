// Helpers of the reliability suite (test/reliability/): the real CLI as a child process, a PostgreSQL
// server a test file owns (to stop and start it), bulk fixtures and the invariants every test checks.

import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { migrate } from "../../src/db/migrate.ts";
import { type EmbeddedServer, startEmbeddedPostgres } from "../../src/db/startEmbeddedPostgres.ts";
import { createLogger } from "../../src/logger.ts";
import type { Queryable } from "../../src/sql/queryable.ts";
import { type CliRun, freePort, runCli } from "./cli.ts";

export interface CliDaemon extends CliRun {
  httpPort: number;
  /** Every JSON log line so far, parsed (other lines are skipped). */
  logs(): Array<Record<string, unknown>>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** `ticket-lifecycle run [args]` against `databaseUrl`, resolved once it logs "daemon running". */
export async function startCliDaemon(
  databaseUrl: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<CliDaemon> {
  const httpPort = await freePort();
  const run = runCli(["run", ...args], {
    env: { DATABASE_URL: databaseUrl, HTTP_PORT: String(httpPort), LOG_LEVEL: "info", ...env },
  });
  await run.waitForLine(/"msg":"daemon running"/, 60_000);
  return Object.assign(run, {
    httpPort,
    logs: () =>
      run.lines.flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    async stop() {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill("SIGTERM");
      return run.exit;
    },
  });
}

/**
 * `--config` arguments moving the scheduled sweep to once a year: in a test, the only sweeps are the
 * ones it starts (a scheduled tick in the middle would blur which job did what).
 */
export function withoutScheduledSweeps(): string[] {
  const dir = path.resolve(".data", "reliability");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `no-scheduled-sweeps-${process.pid}.yaml`);
  writeFileSync(file, 'lifecycle_daemon:\n  expire_job:\n    schedule: "0 0 1 1 *"\n');
  return ["--config", file];
}

export function isRunning(run: CliRun): boolean {
  return run.child.exitCode === null && run.child.signalCode === null;
}

/** GET /readyz: true for 200, false for anything else (503, no answer). */
export async function readyz(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5_000) });
    return response.status === 200;
  } catch {
    return false;
  }
}

export interface OwnServer {
  url: string;
  pool: pg.Pool;
  /** Stops the server (fast shutdown: sessions are cut, open transactions roll back). */
  stopServer(): Promise<void>;
  /** Starts it again on the same data directory and port. */
  startServer(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL cluster of this test file's own, in .data/reliability/, migrated: the test can stop and
 * start it without disturbing the other test files.
 */
export async function startOwnServer(name: string): Promise<OwnServer> {
  // The test stops this server on purpose: the connection errors that follow are expected, not news.
  const log = createLogger("silent");
  const root = path.resolve(".data", "reliability", `${name}-${randomBytes(4).toString("hex")}`);
  let server: EmbeddedServer = await startEmbeddedPostgres(root, "ticketing", log);
  const url = server.connectionString;
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  await migrate(pool, url, log);
  return {
    url,
    pool,
    stopServer: () => server.stop(),
    async startServer() {
      server = await startEmbeddedPostgres(root, "ticketing", log);
      if (server.connectionString !== url)
        throw new Error(`the server came back elsewhere: ${server.connectionString}`);
    },
    async destroy() {
      await pool.end();
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface RacingCall {
  text: string;
  values: unknown[];
  /** `set role` on this call's connection first (for example ticketing_client, as other services call). */
  role?: string;
}
/** `r` is the first row's column `r`: every racing call names its answer so. */
export type RaceResult = { ok: true; r: unknown } | { ok: false; code?: string; message: string };

/**
 * Runs every call on a connection of its own, all released together once every connection is open, so
 * they meet at the same instant. A failure whose SQLSTATE is in `retry` (a deadlock, say, which every
 * caller of the API must retry) runs the call again; any other failure is the call's answer.
 */
export async function atOnce(
  pool: pg.Pool,
  calls: RacingCall[],
  retry: ReadonlySet<string> = new Set(),
): Promise<RaceResult[]> {
  const clients = await Promise.all(calls.map(() => pool.connect()));
  try {
    await Promise.all(calls.map((c, i) => (c.role ? clients[i]?.query(`set role ${c.role}`) : undefined)));
    return await Promise.all(
      calls.map(async (c, i): Promise<RaceResult> => {
        const client = clients[i] as pg.PoolClient;
        for (;;) {
          try {
            return { ok: true, r: (await client.query(c.text, c.values)).rows[0]?.r };
          } catch (error) {
            const { code, message } = error as { code?: string; message: string };
            if (!code || !retry.has(code)) return { ok: false, code, message };
          }
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.query("reset role").finally(() => c.release())));
  }
}

/** The backlog the crash and shutdown tests interrupt: large enough that a signal lands mid-sweep. */
export const MID_SWEEP = { orders: 10_000, perOrder: 5, tickets: 50_000 } as const;

export function expiredTickets(db: Queryable): Promise<number> {
  return scalar<number>(db, "select count(*)::int from ticketing.tickets where status = 'expired'");
}

/** `orders` orders of `perOrder` tickets each, all past valid_end. Ids start at `firstId`. */
export async function seedExpiredOrders(db: Queryable, orders: number, perOrder: number, firstId = 1) {
  await db.query(
    "insert into ticketing.orders (id) select g from generate_series($1::bigint, $1::bigint + $2::int - 1) g",
    [firstId, orders],
  );
  await db.query(
    `insert into ticketing.tickets (id, order_id, valid_end)
     select g, $1::bigint + (g - $1::bigint) / $3::int, now() - interval '1 minute'
       from generate_series($1::bigint, $1::bigint + $2::int * $3::int - 1) g`,
    [firstId, orders, perOrder],
  );
}

export async function scalar<T = number>(db: Queryable, sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await db.query(sql, params);
  return Object.values(rows[0] as object)[0] as T;
}

/**
 * The state machine's bookkeeping, whole-database: every ticket's seq equals its audit rows, every audit
 * row has its outbox event and the other way round, every finished order has exactly one order event.
 * Returns the list of violations (empty when all hold).
 */
export async function bookkeepingViolations(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ problem: string }>(`
    select format('ticket %s: seq %s but %s audit rows', t.id, t.seq, count(a.id)) as problem
      from ticketing.tickets t left join ticketing.ticket_status_audit a on a.ticket_id = t.id
     group by t.id, t.seq having t.seq <> count(a.id)
    union all
    select format('ticket %s: status %s but last audit row says %s', t.id, t.status, a.new_status)
      from ticketing.tickets t join ticketing.ticket_status_audit a on a.ticket_id = t.id and a.seq = t.seq
     where a.new_status <> t.status
    union all
    select format('ticket %s seq %s: audit row without its event', a.ticket_id, a.seq)
      from ticketing.ticket_status_audit a
     where not exists (select 1 from ticketing.outbox o where o.ticket_id = a.ticket_id and o.seq = a.seq)
    union all
    select format('event %s without its audit row', o.event_id)
      from ticketing.outbox o
     where o.ticket_id is not null
       and not exists (select 1 from ticketing.ticket_status_audit a where a.ticket_id = o.ticket_id and a.seq = o.seq)
    union all
    select format('order %s: status %s but %s order events', r.id, r.status, count(o.id))
      from ticketing.orders r left join ticketing.outbox o on o.order_id = r.id and o.type like 'order.%'
     group by r.id, r.status having count(o.id) <> case when r.status = 'open' then 0 else 1 end
    union all
    select format('order %s is %s but its tickets say %s', r.id, r.status, x.expected)
      from ticketing.orders r
      join (select t.order_id,
                   case when bool_and(t.status = 'refunded') then 'cancelled'
                        when bool_and(s.terminal) then 'completed' else 'open' end as expected
              from ticketing.tickets t join ticketing.ticket_statuses s on s.status = t.status
             group by t.order_id) x on x.order_id = r.id
     where x.expected <> r.status
    union all
    select format('ticket %s: %s terminal transitions', a.ticket_id, count(*))
      from ticketing.ticket_status_audit a join ticketing.ticket_statuses s on s.status = a.new_status and s.terminal
     group by a.ticket_id having count(*) > 1`);
  return rows.map((r) => r.problem);
}

/** Jobs still locked by anyone, and named queues still locked. */
export async function lockedJobs(db: Queryable) {
  return scalar<number>(
    db,
    `select (select count(*) from graphile_worker._private_jobs where locked_by is not null)
          + (select count(*) from graphile_worker._private_job_queues where locked_by is not null)`,
  ).then(Number);
}
