// One PostgreSQL for the whole benchmark run: DATABASE_URL when set, else the embedded server in
// .data/bench. Every benchmark works in databases of its own, migrated like production.
import { randomBytes } from "node:crypto";
import path from "node:path";
import pg from "pg";
import { migrate } from "../../src/db/migrate.ts";
import { type EmbeddedServer, startEmbeddedPostgres } from "../../src/db/startEmbeddedPostgres.ts";
import { createLogger } from "../../src/logger.ts";
import { localPostmaster } from "./cpu.ts";

const log = createLogger(process.env.LOG_LEVEL ?? "warn");

export interface BenchServer {
  adminUrl: string;
  version: string;
  settings: Record<string, string>;
  /** The server's main process when it runs on this machine: its CPU time is measured (support/cpu.ts). */
  postmaster: number | undefined;
  stop(): Promise<void>;
}

export interface BenchDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  /** Closes this process's connections (the pool is unusable afterwards). */
  close(): Promise<void>;
  drop(): Promise<void>;
}

const SETTINGS = ["server_version", "fsync", "synchronous_commit", "shared_buffers", "max_wal_size", "max_connections"];

export async function startBenchServer(): Promise<BenchServer> {
  let server: EmbeddedServer | undefined;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    server = await startEmbeddedPostgres(path.resolve(".data/bench"), "postgres", log);
    adminUrl = server.connectionString;
  }
  const { settings, postmaster } = await admin(adminUrl, async (c) => {
    const { rows } = await c.query<{ name: string; value: string }>(
      "select name, current_setting(name) as value from pg_settings where name = any($1)",
      [SETTINGS],
    );
    // Looked up while this connection's backend is alive: its parent is the postmaster.
    const backend = await c.query<{ pid: number }>("select pg_backend_pid() as pid");
    const pid = backend.rows[0]?.pid;
    return {
      settings: Object.fromEntries(rows.map((r) => [r.name, r.value])),
      postmaster: pid === undefined ? undefined : localPostmaster(pid),
    };
  });
  return { adminUrl, version: settings.server_version ?? "?", settings, postmaster, stop: async () => server?.stop() };
}

async function admin<T>(adminUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function open(server: BenchServer, name: string, poolSize: number): BenchDatabase {
  const url = new URL(server.adminUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: poolSize, application_name: "bench" });
  // A connection dropped by `drop database ... with (force)` must not crash the run.
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await pool.end();
  };
  return {
    name,
    url: url.toString(),
    pool,
    close,
    async drop() {
      await close();
      await admin(server.adminUrl, (c) => c.query(`drop database if exists ${name} with (force)`));
    },
  };
}

const newName = (label: string) => `bench_${label}_${randomBytes(4).toString("hex")}`;

/** A new database with graphile-worker's schema and ours, as `ticket-lifecycle migrate` leaves it. */
export async function freshDatabase(server: BenchServer, label: string, poolSize = 4): Promise<BenchDatabase> {
  const name = newName(label);
  await admin(server.adminUrl, (c) => c.query(`create database ${name}`));
  const db = open(server, name, poolSize);
  await migrate(db.pool, db.url, log);
  return db;
}

/**
 * An exact copy of `source` (its pool is closed first: a template must have no connections). The
 * baseline and the daemon each get a copy of one data set, built once.
 */
export async function cloneDatabase(
  server: BenchServer,
  source: BenchDatabase,
  label: string,
  poolSize = 4,
): Promise<BenchDatabase> {
  await source.close();
  const name = newName(label);
  await admin(server.adminUrl, (c) => c.query(`create database ${name} template ${source.name} strategy file_copy`));
  return open(server, name, poolSize);
}

/** Runs `work` on `db`, then drops it whatever happens. */
export async function using<T>(db: BenchDatabase, work: (db: BenchDatabase) => Promise<T>): Promise<T> {
  try {
    return await work(db);
  } finally {
    await db.drop();
  }
}
