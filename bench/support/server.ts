// One PostgreSQL for the whole benchmark run: DATABASE_URL when set, else the embedded server in
// .data/bench. Every benchmark gets fresh databases on it (freshDatabase), migrated like production.
import { randomBytes } from "node:crypto";
import path from "node:path";
import pg from "pg";
import { startEmbeddedPostgres, type EmbeddedServer } from "../../src/db/embeddedPostgres.ts";
import { migrate } from "../../src/db/migrate.ts";
import { createLogger } from "../../src/logger.ts";

const log = createLogger(process.env.LOG_LEVEL ?? "warn");

export interface BenchServer {
  adminUrl: string;
  version: string;
  settings: Record<string, string>;
  stop(): Promise<void>;
}

export interface BenchDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

export async function startBenchServer(): Promise<BenchServer> {
  let server: EmbeddedServer | undefined;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    server = await startEmbeddedPostgres(path.resolve(".data/bench"), "postgres", log);
    adminUrl = server.connectionString;
  }
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string; setting: string }>(
      `select name, setting from pg_settings
        where name in ('server_version', 'fsync', 'synchronous_commit', 'shared_buffers', 'max_wal_size', 'wal_level')`,
    );
    const settings = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
    return { adminUrl, version: settings.server_version ?? "?", settings, stop: async () => server?.stop() };
  } finally {
    await client.end();
  }
}

function urlFor(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
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

function open(adminUrl: string, name: string, poolSize: number): BenchDatabase {
  const url = urlFor(adminUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: poolSize, application_name: "bench" });
  // A connection dropped by `drop database ... with (force)` must not crash the run.
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  return {
    name,
    url,
    pool,
    async drop() {
      await pool.end();
      await admin(adminUrl, (c) => c.query(`drop database if exists ${name} with (force)`));
    },
  };
}

/** A new, migrated database of its own (graphile-worker's schema and ours). */
export async function freshDatabase(server: BenchServer, label: string, poolSize = 4): Promise<BenchDatabase> {
  const name = `bench_${label}_${randomBytes(4).toString("hex")}`;
  await admin(server.adminUrl, (c) => c.query(`create database ${name}`));
  const db = open(server.adminUrl, name, poolSize);
  await migrate(db.pool, db.url, log);
  return db;
}

/**
 * An exact copy of `source` (which must have no other connections): lets the baseline and the daemon
 * start from the same bytes without building a large data set twice.
 */
export async function cloneDatabase(server: BenchServer, source: BenchDatabase, label: string, poolSize = 4): Promise<BenchDatabase> {
  const name = `bench_${label}_${randomBytes(4).toString("hex")}`;
  await admin(server.adminUrl, (c) => c.query(`create database ${name} template ${source.name} strategy file_copy`));
  return open(server.adminUrl, name, poolSize);
}
