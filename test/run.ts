// `npm test`: one PostgreSQL for the whole run (DATABASE_URL when set, else an embedded server in
// .data/test), a migrated template database, then node's test runner over every test file; each file
// clones the template into a database of its own.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { startEmbeddedPostgres } from "../src/db/embeddedPostgres.ts";
import { migrate } from "../src/db/migrate.ts";
import { createLogger } from "../src/logger.ts";
import { TEMPLATE_DB } from "./support/database.ts";

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
await admin.query(`drop database if exists ${TEMPLATE_DB}`);
await admin.query(`create database ${TEMPLATE_DB}`);
await admin.end();
const templateUrl = new URL(adminUrl);
templateUrl.pathname = `/${TEMPLATE_DB}`;
const templatePool = new pg.Pool({ connectionString: templateUrl.toString(), max: 2 });
await migrate(templatePool, templateUrl.toString(), log);
await templatePool.end();

const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...files], {
  stdio: "inherit",
  env: { ...process.env, TEST_ADMIN_URL: adminUrl },
});
const code: number = await new Promise((resolve) => child.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await server?.stop();
process.exit(code);
