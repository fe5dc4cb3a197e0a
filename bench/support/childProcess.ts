// The daemon (and bare graphile-worker) run as child processes, as in production: their memory is
// measured on their own (peak RSS from /proc), and their CPU competes with PostgreSQL's as it would.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

export type LogLine = Record<string, unknown>;

interface Waiter {
  needle: string;
  match: (line: LogLine) => boolean;
  resolve: (line: LogLine) => void;
  reject: (error: Error) => void;
}

export interface Child {
  pid: number;
  /** The first log line from now on that contains `needle` and satisfies `match`. */
  waitForLog(needle: string, match?: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Peak resident set size so far (VmHWM), in MB; undefined where /proc is not available. */
  peakRssMb(): number | undefined;
  /** SIGTERM, then waits for a graceful exit (SIGKILL after 60 s). Returns the exit code. */
  stop(): Promise<number | null>;
}

/** The environment a child gets: nothing inherited but what running node needs, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const keep = ["PATH", "HOME", "TMPDIR", "LANG", "TZ", "NODE_OPTIONS"];
  return {
    ...Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]])),
    ...env,
  };
}

function startChild(args: string[], env: Record<string, string>, readyNeedle: string): Promise<Child> {
  const proc: ChildProcess = spawn(process.execPath, args, {
    cwd: root,
    env: childEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const waiters = new Set<Waiter>();
  const stderr: string[] = [];
  const errors: string[] = [];
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<number | null>((resolve) => {
    proc.on("exit", (code, signal) => {
      exited = { code, signal };
      const reason = new Error(
        `child exited (${code ?? signal}) before the awaited log line; last errors:\n${[...errors, ...stderr].slice(-10).join("\n")}`,
      );
      for (const w of waiters) w.reject(reason);
      waiters.clear();
      resolve(code);
    });
  });
  // JSON log lines may come on either stream: the daemon writes its logs to stderr, keeping stdout for answers.
  const onLogLine = (text: string) => {
    if (text.includes('"level":50') || text.includes('"level":60')) {
      errors.push(text);
      if (errors.length > 20) errors.shift();
    }
    for (const w of waiters) {
      if (!text.includes(w.needle)) continue;
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        continue;
      }
      if (!w.match(line)) continue;
      waiters.delete(w);
      w.resolve(line);
    }
  };
  readline.createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on("line", (line) => {
    stderr.push(line);
    if (stderr.length > 50) stderr.shift();
    onLogLine(line);
  });
  readline.createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", onLogLine);

  const child: Child = {
    pid: proc.pid as number,
    waitForLog(needle, match = () => true, timeoutMs = 30 * 60_000) {
      if (exited) return Promise.reject(new Error(`child already exited (${exited.code ?? exited.signal})`));
      return new Promise<LogLine>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(
              `no log line with ${JSON.stringify(needle)} within ${timeoutMs} ms; last errors:\n${[...errors, ...stderr].slice(-10).join("\n")}`,
            ),
          );
        }, timeoutMs);
        const waiter: Waiter = {
          needle,
          match,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        };
        waiters.add(waiter);
      });
    },
    peakRssMb() {
      try {
        const status = readFileSync(`/proc/${proc.pid}/status`, "utf8");
        const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
        return kb ? Number(kb) / 1024 : undefined;
      } catch {
        return undefined;
      }
    },
    async stop() {
      if (exited) return exited.code;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
      const code = await exitPromise;
      clearTimeout(timer);
      return code;
    },
  };
  return child
    .waitForLog(readyNeedle, () => true, 120_000)
    .then(
      () => child,
      async (error: Error) => {
        await child.stop();
        throw error;
      },
    );
}

/**
 * `ticket-lifecycle run` on `databaseUrl`, with the production defaults (LOG_LEVEL info, WORKER_CONCURRENCY
 * 4) unless `env` overrides them; HTTP endpoints off. Resolves once the daemon logs that it is running.
 */
export function startDaemonProcess(databaseUrl: string, env: Record<string, string> = {}): Promise<Child> {
  return startChild(
    ["bin/ticket-lifecycle.js", "run"],
    { LOG_LEVEL: "info", ...env, DATABASE_URL: databaseUrl, HTTP_PORT: "0" },
    '"daemon running"',
  );
}

/** Bare graphile-worker (bench/support/bareWorker.ts) with one no-op task, `concurrency` at once. */
export function startBareWorker(databaseUrl: string, concurrency: number): Promise<Child> {
  return startChild(
    ["--import", "tsx", "bench/support/bareWorker.ts"],
    { DATABASE_URL: databaseUrl, WORKER_CONCURRENCY: String(concurrency) },
    '"bare worker running"',
  );
}
