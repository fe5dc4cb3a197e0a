// graphile-worker (0.17 and 0.18) records a job's success or failure with a promise nobody awaits, retrying only
// deadlocks, serialization failures and a few network codes. If the database is restarting at that moment
// ("connection refused", "terminating connection due to administrator command"), the rejection is
// unhandled and Node ends the process. The pool handed to graphile-worker therefore waits for the server
// when it cannot open a connection, instead of failing: after a restart the bookkeeping simply goes on.
import type pg from "pg";
import { backOff } from "../backoff.ts";
import { knobs } from "../config/knobs.ts";
import { classifyError } from "../errors.ts";
import type { Logger } from "../logger.ts";

/** The server is not there right now (restart, failover, network), as opposed to "this query is wrong". */
export const isConnectionError = (error: unknown): boolean => classifyError(error) === "unavailable";

type ConnectCallback = (
  error: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: unknown) => void,
) => void;

/**
 * `pool` seen through a proxy whose connect() retries connection errors with backoff for up to
 * `maxWaitMs` (then fails as before: a longer outage is left to the lifeline, which frees a job whose
 * bookkeeping was lost). Everything else is the pool itself.
 */
export function waitingForServer(
  pool: pg.Pool,
  log: Logger,
  maxWaitMs: number = knobs.workerConnectRetry.maxWaitMs,
): pg.Pool {
  const connect = async (): Promise<pg.PoolClient> => {
    const deadline = Date.now() + maxWaitMs;
    for (let failures = 1; ; failures++) {
      try {
        return await pool.connect();
      } catch (error) {
        if (!isConnectionError(error) || pool.ending || Date.now() >= deadline) throw error;
        log.debug({ err: error, failures }, "database unreachable; worker connection waits for it");
        await backOff(failures, knobs.workerConnectRetry);
      }
    }
  };
  const connectEitherWay = (callback?: ConnectCallback) => {
    if (!callback) return connect();
    connect().then(
      (client) => callback(undefined, client, (release) => client.release(release as Error | undefined)),
      (error: Error) => callback(error, undefined, () => {}),
    );
    return undefined;
  };
  return new Proxy(pool, {
    get(target, property) {
      if (property === "connect") return connectEitherWay;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
