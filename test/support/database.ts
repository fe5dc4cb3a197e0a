import { randomBytes } from "node:crypto";
import pg from "pg";

export const TEMPLATE_DB = "ticket_lifecycle_template";

/**
 * The logins test/run.ts creates on the test server: the owner that migrates (CREATEROLE and nothing more,
 * as a managed PostgreSQL gives you) and one login in each of the project's group roles.
 */
export const LOGINS = {
  owner: "ticketing_test_owner",
  daemon: "ticketing_test_daemon",
  client: "ticketing_test_client",
  reader: "ticketing_test_reader",
  writer: "ticketing_test_writer",
  enqueuer: "ticketing_test_enqueuer",
} as const;
export type Login = keyof typeof LOGINS;

/** `databaseUrl` with one of the test logins as its user. */
export function loginUrl(databaseUrl: string, login: Login): string {
  const password = process.env.TEST_LOGIN_PASSWORD;
  if (!password)
    throw new Error("TEST_LOGIN_PASSWORD is unset: run the tests with `npm test` (test/run.ts sets it up)");
  const url = new URL(databaseUrl);
  url.username = LOGINS[login];
  url.password = password;
  return url.toString();
}

export interface TestDatabase {
  url: string;
  name: string;
  /** A superuser's pool, for setting up and inspecting. */
  pool: pg.Pool;
  /** This database's URL as one of the test logins. */
  urlAs(login: Login): string;
  /** Another pool on this database, ended by `drop()` like the first one. */
  openPool(max: number): pg.Pool;
  drop(): Promise<void>;
}

/**
 * `pool.end()` resolves before its sockets close, so the forced drop can still cut a session that is
 * logging off: that error is the test's own doing, never news (without a listener it would crash the file).
 */
function quietPool(connectionString: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString, max });
  pool.on("error", () => {});
  return pool;
}

function adminUrl(): string {
  const url = process.env.TEST_ADMIN_URL;
  if (!url) throw new Error("TEST_ADMIN_URL is unset: run the tests with `npm test` (test/run.ts sets it up)");
  return url;
}

/** A database of this test file's own: a copy of the migrated template, or empty with `{ empty: true }`. */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const name = `t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(
      `create database ${name} ${options.empty ? "" : `template ${TEMPLATE_DB}`} owner ${LOGINS.owner}`,
    );
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  const pools = [quietPool(url.toString(), 20)];
  return {
    url: url.toString(),
    name,
    pool: pools[0] as pg.Pool,
    urlAs: (login) => loginUrl(url.toString(), login),
    openPool(max) {
      const pool = quietPool(url.toString(), max);
      pools.push(pool);
      return pool;
    },
    async drop() {
      await Promise.all(pools.map((pool) => pool.end()));
      const dropper = new pg.Client({ connectionString: adminUrl() });
      await dropper.connect();
      await dropper.query(`drop database if exists ${name} with (force)`);
      await dropper.end();
    },
  };
}
