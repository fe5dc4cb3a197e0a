// The requests benchmark's baseline: graphile-worker with the daemon's runner settings (concurrency,
// poll interval, a pool of the same size) and one task that does nothing. Run as a child process.
import { Logger, run } from "graphile-worker";
import pg from "pg";

const concurrency = Number(process.env.WORKER_CONCURRENCY ?? 4);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: concurrency + 11 });
pool.on("error", () => {});
pool.on("connect", (client) => client.on("error", () => {}));
const runner = await run({
  pgPool: pool,
  taskList: { noop: async () => {} },
  concurrency,
  noHandleSignals: true,
  pollInterval: 2000,
  // Like the daemon's logger at LOG_LEVEL info: graphile-worker's per-job lines are not written.
  logger: new Logger(() => (level, message) => {
    if (level === "error" || level === "warning") console.error(message);
  }),
});
console.log(JSON.stringify({ msg: "bare worker running", concurrency }));
process.on("SIGTERM", () => {
  runner
    .stop()
    .then(() => pool.end())
    .then(() => process.exit(0));
});
