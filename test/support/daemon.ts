import { Writable } from "node:stream";
import { loadEnv } from "../../src/config/env.ts";
import type { LifecycleConfig } from "../../src/config/lifecycleConfig.ts";
import { type Daemon, startDaemon } from "../../src/daemon.ts";
import { createLogger } from "../../src/logger.ts";
import type { TestDatabase } from "./database.ts";

export interface TestDaemon extends Daemon {
  /** Every log line the daemon wrote, parsed. */
  logs: Array<Record<string, unknown>>;
}

/**
 * The schedule's sweep moved to once a year: in a test the only sweeps are the ones it starts (a scheduled
 * tick in the middle would expire a ticket the test keeps usable, or count as one more failed run).
 */
const NO_SCHEDULED_SWEEPS: LifecycleConfig = { lifecycle_daemon: { expire_job: { schedule: "0 0 1 1 *" } } };

/**
 * The real daemon (runner, tasks, crontab, HTTP) on this test file's database, logs captured. It connects
 * as a login in ticketing_daemon, as the README recommends.
 */
export async function startTestDaemon(
  db: TestDatabase,
  env: Record<string, string> = {},
  config = NO_SCHEDULED_SWEEPS,
): Promise<TestDaemon> {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  const parsedEnv = loadEnv({
    HTTP_PORT: "0",
    LOG_LEVEL: "debug",
    WORKER_CONCURRENCY: "4",
    ...env,
    DATABASE_URL: db.urlAs("daemon"),
  });
  const daemon = await startDaemon(parsedEnv, createLogger(parsedEnv.LOG_LEVEL, sink), config);
  return Object.assign(daemon, { logs });
}

/** Polls `probe` until it returns a truthy value or the deadline passes (then throws with `what`). */
export async function waitFor<T>(what: string, probe: () => Promise<T>, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
