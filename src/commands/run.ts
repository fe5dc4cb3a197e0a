import { setTimeout as sleep } from "node:timers/promises";
import { knobs } from "../config/knobs.ts";
import { startDaemon } from "../daemon.ts";
import { isConnectionError } from "../db/waitingPool.ts";
import type { CommandContext } from "./commandContext.ts";

const {
  gracefulTimeoutMs: SHUTDOWN_TIMEOUT_MS,
  abandonTimeoutMs: ABANDON_TIMEOUT_MS,
  repeatedSignalMs: REPEATED_SIGNAL_MS,
  launcherCheckMs: LAUNCHER_CHECK_MS,
} = knobs.shutdown;

/**
 * Started by npm (`npm start`, `npx`) or by the bin's relaunch on the bundled runtime, the daemon's parent is
 * a launcher that a process manager signals in its place. When that parent is gone (npm or a shell killed, or a
 * shell between npm and the daemon that dies of the SIGTERM npm passes it), nothing will signal the daemon any
 * more: it stops on its own, as it would on SIGTERM. Started directly (systemd, a container, a terminal), its
 * parent's exit means nothing, so it is not watched.
 */
function watchLauncher(onGone: () => void): () => void {
  const launched = process.env.npm_lifecycle_event !== undefined || process.env.TICKET_LIFECYCLE_RELAUNCHED === "1";
  if (!launched) return () => {};
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, LAUNCHER_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Runs until SIGTERM/SIGINT (or its launcher is gone); a second signal, or a drain longer than
 * SHUTDOWN_TIMEOUT_MS, forces the exit.
 */
export async function runCommand({ env, log, config }: CommandContext): Promise<number> {
  const daemon = await startDaemon(env, log, config);
  // graphile-worker (0.17 and 0.18) records job outcomes with promises nobody awaits; one cut off by a database restart
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
    let stoppingSince: number | undefined;
    let forcing = false;
    const force = async (reason: string) => {
      if (forcing) return;
      forcing = true;
      log.warn({ reason }, "forced shutdown: handing this daemon's jobs over and exiting");
      await Promise.race([daemon.abandon().catch(() => {}), sleep(ABANDON_TIMEOUT_MS)]);
      process.exit(1);
    };
    const shutDown = (cause: { signal?: NodeJS.Signals; launcherGone?: true }) => {
      if (stoppingSince !== undefined) {
        if (cause.signal && Date.now() - stoppingSince >= REPEATED_SIGNAL_MS)
          void force(`second signal ${cause.signal}`);
        return;
      }
      stoppingSince = Date.now();
      stopWatchingLauncher();
      log.info({ ...cause, timeoutMs: SHUTDOWN_TIMEOUT_MS }, "shutting down: letting running jobs finish");
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
    const stopWatchingLauncher = watchLauncher(() => shutDown({ launcherGone: true }));
    process.on("SIGTERM", (signal) => shutDown({ signal }));
    process.on("SIGINT", (signal) => shutDown({ signal }));
  });
}
