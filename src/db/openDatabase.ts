import path from "node:path";
import pg from "pg";
import type { Env } from "../config/env.ts";
import type { Logger } from "../logger.ts";
import { exactJsonTypes } from "./exactJson.ts";
import { redactUrl } from "./redactUrl.ts";
import { startEmbeddedPostgres } from "./startEmbeddedPostgres.ts";
import { waitingForServer } from "./waitingPool.ts";

export interface Database {
  pool: pg.Pool;
  /** The same pool for graphile-worker: opening a connection waits out a database restart (waitingPool.ts). */
  workerPool: pg.Pool;
  connectionString: string;
  close(): Promise<void>;
}

/**
 * DATABASE_URL when set; otherwise the embedded PostgreSQL in ./.data (started if needed, never when
 * DATABASE_URL is set). `close` ends the pool, then stops the embedded server if this process started it.
 */
export async function openDatabase(env: Env, log: Logger, poolSize: number): Promise<Database> {
  let connectionString = env.DATABASE_URL;
  let stopServer = async () => {};
  if (!connectionString) {
    const server = await startEmbeddedPostgres(path.resolve(".data"), "ticketing", log);
    log.info({ psql: server.psqlCommand }, "embedded PostgreSQL ready; connect with the psql command");
    connectionString = server.connectionString;
    stopServer = () => server.stop();
  } else {
    log.info({ database: redactUrl(connectionString) }, "using DATABASE_URL");
  }
  // keepAlive: a connection whose server vanished without a word (a network cut) is noticed by TCP
  // instead of hanging until the next query. types: integers beyond 2^53 in json/jsonb (job payloads
  // above all) stay exact (exactJson.ts).
  const pool = new pg.Pool({
    connectionString,
    max: poolSize,
    application_name: "ticket-lifecycle-daemon",
    keepAlive: true,
    types: exactJsonTypes,
  });
  // An idle client losing its connection (server restart) must not crash the process; the pool replaces it.
  pool.on("error", (error) => log.warn({ err: error }, "idle database connection lost"));
  pool.on("connect", (client) => client.on("error", (error) => log.warn({ err: error }, "database connection lost")));
  return {
    pool,
    workerPool: waitingForServer(pool, log),
    connectionString,
    async close() {
      await pool.end();
      await stopServer();
    },
  };
}
