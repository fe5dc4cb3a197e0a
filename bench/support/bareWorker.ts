// The requests benchmark's baseline: graphile-worker 0.18 with its default settings (its own pool from the
// connection string, default poll interval, no local queue, no batched completion) at the daemon's concurrency,
// and one task that does nothing. Run as a child process.
import { Logger, run } from "graphile-worker";

const concurrency = Number(process.env.WORKER_CONCURRENCY ?? 4);
const runner = await run({
  connectionString: process.env.DATABASE_URL,
  taskList: { noop: async () => {} },
  concurrency,
  noHandleSignals: true,
  // Like the daemon's logger at LOG_LEVEL info: graphile-worker's per-job lines are not written (output, not a
  // runner setting; writing 100,000 lines would measure the terminal).
  logger: new Logger(() => (level, message) => {
    if (level === "error" || level === "warning") console.error(message);
  }),
});
console.log(JSON.stringify({ msg: "bare worker running", concurrency }));
process.on("SIGTERM", () => {
  runner.stop().then(() => process.exit(0));
});
