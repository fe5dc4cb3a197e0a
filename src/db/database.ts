import path from "node:path";
import pg from "pg";
import type { Env } from "../config/env.ts";
import type { Logger } from "../logger.ts";
import { startEmbeddedPostgres } from "./embeddedPostgres.ts";
import { redactUrl } from "./redactUrl.ts";

export interface Database {
  pool: pg.Pool;
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
  const pool = new pg.Pool({ connectionString, max: poolSize, application_name: "ticket-lifecycle-daemon" });
  // An idle client losing its connection (server restart) must not crash the process; the pool replaces it.
  pool.on("error", (error) => log.warn({ err: error }, "idle database connection lost"));
  pool.on("connect", (client) => client.on("error", (error) => log.warn({ err: error }, "database connection lost")));
  return {
    pool,
    connectionString,
    async close() {
      await pool.end();
      await stopServer();
    },
  };
}
