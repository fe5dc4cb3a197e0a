import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";

export const BIN = path.resolve("bin/ticket-lifecycle.js");

export interface CliRun {
  child: ChildProcess;
  /** stdout + stderr lines so far. */
  lines: string[];
  /** The answer: stdout's lines alone. */
  stdout: string[];
  /** The logs: stderr's lines alone. */
  stderr: string[];
  /** Resolves with the first line matching `pattern`, rejects after the deadline. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exit: Promise<number | null>;
  /** The exit code, once every line of output has been read too. */
  finished: Promise<number | null>;
}

/** Runs the real CLI as a child process (env replaces DATABASE_URL & co. entirely when given). */
export function runCli(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string } = {},
): CliRun {
  const env: Record<string, string | undefined> = { ...process.env, LOG_LEVEL: "info", HTTP_PORT: "0", ...options.env };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  const child = spawn(process.execPath, [BIN, ...args], {
    env: env as NodeJS.ProcessEnv,
    cwd: options.cwd ?? process.cwd(),
  });
  const lines: string[] = [];
  const byStream = { stdout: [] as string[], stderr: [] as string[] };
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  const onLine = (stream: keyof typeof byStream, line: string) => {
    if (!line) return;
    lines.push(line);
    byStream[stream].push(line);
    for (const w of waiters.filter((w) => w.pattern.test(line))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  };
  // Whole lines only: a log line may arrive split over two reads.
  for (const name of ["stdout", "stderr"] as const)
    createInterface({ input: child[name], crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) =>
      onLine(name, line),
    );
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const closed = [child.stdout, child.stderr].map((stream) => new Promise((resolve) => stream.once("close", resolve)));
  const finished = Promise.all([exit, ...closed]).then(([code]) => code);
  return {
    child,
    lines,
    ...byStream,
    exit,
    finished,
    waitForLine(pattern, timeoutMs = 60_000) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${lines.slice(-20).join("\n")}`)),
          timeoutMs,
        );
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        exit.then(() =>
          setTimeout(
            () => reject(new Error(`process exited before a line matched ${pattern}:\n${lines.slice(-20).join("\n")}`)),
            100,
          ),
        );
      });
    },
  };
}

/** Runs the CLI to its end: exit code, stdout (the answer) and stderr (the logs) as whole texts. */
export async function cliOutput(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = runCli(args, { env });
  const code = await run.finished;
  return { code, stdout: run.stdout.join("\n"), stderr: run.stderr.join("\n") };
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
