// `npm test`: one PostgreSQL for the whole run (DATABASE_URL when set, else an embedded server in
// .data/test), a migrated template database, then node's test runner over every test file; each file
// clones the template into a database of its own. The template is migrated as a login that owns it and has
// CREATEROLE and nothing more, as on a managed PostgreSQL; the test logins of the project's roles are created
// here too (roles are cluster-wide).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { migrate } from "../src/db/migrate.ts";
import { startEmbeddedPostgres } from "../src/db/startEmbeddedPostgres.ts";
import { createLogger } from "../src/logger.ts";
import { LOGINS, loginUrl, TEMPLATE_DB } from "./support/database.ts";

const log = createLogger(process.env.LOG_LEVEL ?? "warn");
const dir = path.dirname(new URL(import.meta.url).pathname);
const only = process.argv.slice(2);
const files = only.length
  ? only
  : readdirSync(dir)
      .filter((f) => f.endsWith(".test.ts"))
      .sort()
      .map((f) => path.join("test", f));

let adminUrl = process.env.DATABASE_URL;
let server: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
if (!adminUrl) {
  server = await startEmbeddedPostgres(path.resolve(".data/test"), "postgres", log);
  adminUrl = server.connectionString;
}

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
const { rows } = await admin.query<{ server_version: string }>("show server_version");
console.log(`# PostgreSQL ${rows[0]?.server_version} for ${files.length} test file(s)`);
const password = randomBytes(18).toString("base64url");
/** Creates `login` if missing (another run on this server may have), with this run's password. */
async function ensureLogin(login: string, attributes: string, memberOf?: string) {
  await admin.query(
    `do $$ begin
       if not exists (select 1 from pg_roles where rolname = '${login}') then create role ${login}; end if;
     end $$`,
  );
  await admin.query(`alter role ${login} login nosuperuser nocreatedb ${attributes} password '${password}'`);
  if (memberOf) await admin.query(`grant ${memberOf} to ${login}`);
}
await ensureLogin(LOGINS.owner, "createrole");
await admin.query(`drop database if exists ${TEMPLATE_DB}`);
await admin.query(`create database ${TEMPLATE_DB} owner ${LOGINS.owner}`);
const templateUrl = new URL(adminUrl);
templateUrl.pathname = `/${TEMPLATE_DB}`;
process.env.TEST_LOGIN_PASSWORD = password;
const ownerUrl = loginUrl(templateUrl.toString(), "owner");
const templatePool = new pg.Pool({ connectionString: ownerUrl, max: 2 });
await migrate(templatePool, ownerUrl, log);
await templatePool.end();
await ensureLogin(LOGINS.daemon, "nocreaterole", "ticketing_daemon");
await ensureLogin(LOGINS.client, "nocreaterole", "ticketing_client");
await ensureLogin(LOGINS.reader, "nocreaterole", "ticketing_reader");
await ensureLogin(LOGINS.writer, "nocreaterole", "ticketing_writer");
await ensureLogin(LOGINS.enqueuer, "nocreaterole", "ticketing_enqueuer");
await admin.end();

const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...files], {
  stdio: "inherit",
  env: { ...process.env, TEST_ADMIN_URL: adminUrl, TEST_LOGIN_PASSWORD: password },
});
const code: number = await new Promise((resolve) => child.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await server?.stop();
process.exit(code);
