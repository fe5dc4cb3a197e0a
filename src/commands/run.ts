import { startDaemon } from "../daemon.ts";
import type { CommandContext } from "./index.ts";

/** Runs until SIGTERM/SIGINT; a second signal skips the graceful drain. */
export async function runCommand({ env, log, config }: CommandContext): Promise<number> {
  const daemon = await startDaemon(env, log, config);
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, "second signal: exiting without waiting for running jobs");
        process.exit(1);
      }
      stopping = true;
      log.info({ signal }, "shutting down: letting running jobs finish");
      daemon.stop().then(
        () => resolve(0),
        (error) => {
          log.error({ err: error }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
