import { setTimeout as sleep } from "node:timers/promises";
import { startDaemon } from "../daemon.ts";
import { isConnectionError } from "../db/waitingPool.ts";
import type { CommandContext } from "./index.ts";

/** A graceful shutdown longer than this is forced: running batches commit or roll back well within it. */
const SHUTDOWN_TIMEOUT_MS = 30_000;
/** How long a forced shutdown spends handing this process's jobs over before it exits. */
const ABANDON_TIMEOUT_MS = 3_000;

/** Runs until SIGTERM/SIGINT; a second signal, or a drain longer than SHUTDOWN_TIMEOUT_MS, forces the exit. */
export async function runCommand({ env, log, config }: CommandContext): Promise<number> {
  const daemon = await startDaemon(env, log, config);
  // graphile-worker 0.17 records job outcomes with promises nobody awaits; one cut off by a database restart
  // would end the process. The job it concerned is freed by the lifeline and runs again, so that one is
  // survivable; any other unhandled rejection is a bug and still ends the process.
  process.on("unhandledRejection", (reason) => {
    if (!isConnectionError(reason)) throw reason;
    log.error(
      { err: reason },
      "a job's bookkeeping was cut off by the database; the lifeline frees the job, the daemon keeps running",
    );
  });
  return new Promise((resolve) => {
    let stopping = false;
    let forcing = false;
    const force = async (reason: string) => {
      if (forcing) return;
      forcing = true;
      log.warn({ reason }, "forced shutdown: handing this daemon's jobs over and exiting");
      await Promise.race([daemon.abandon().catch(() => {}), sleep(ABANDON_TIMEOUT_MS)]);
      process.exit(1);
    };
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        void force(`second signal ${signal}`);
        return;
      }
      stopping = true;
      log.info({ signal, timeoutMs: SHUTDOWN_TIMEOUT_MS }, "shutting down: letting running jobs finish");
      const timer = setTimeout(
        () => void force(`graceful shutdown took longer than ${SHUTDOWN_TIMEOUT_MS} ms`),
        SHUTDOWN_TIMEOUT_MS,
      );
      daemon.stop().then(
        () => {
          clearTimeout(timer);
          resolve(0);
        },
        (error) => {
          clearTimeout(timer);
          log.error({ err: error }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
