import pg from "pg";
import { type BackoffPolicy, retryDelayMs } from "../backoff.ts";
import type { Logger } from "../logger.ts";
import { listenToOutbox } from "../sql/listenToOutbox.ts";

export const LISTENER_APPLICATION_NAME = "ticket-lifecycle-dispatcher";

export interface OutboxListenerOptions {
  connectionString: string;
  log: Logger;
  /** Called on every notification, and after each (re)connect: notifications sent while we were not listening are lost. */
  onWake: () => void;
  reconnect: BackoffPolicy;
}

/**
 * A connection of its own (outside the pool, where it would hold a slot forever) that LISTENs on
 * ticketing_outbox. When the database goes away it reconnects with backoff, forever, without throwing:
 * meanwhile the dispatcher's poll keeps events moving.
 */
export function listenForOutbox(options: OutboxListenerOptions): { close(): Promise<void> } {
  const { log } = options;
  let closed = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;

  const lost = (lostClient: pg.Client, error?: unknown) => {
    if (closed || lostClient !== client) return;
    client = undefined;
    lostClient.end().catch(() => {});
    failures += 1;
    const retryInMs = retryDelayMs(failures, options.reconnect);
    log.warn({ err: error, failures, retryInMs }, "outbox LISTEN connection lost; reconnecting");
    timer = setTimeout(connect, retryInMs);
  };

  const connect = async () => {
    timer = undefined;
    if (closed) return;
    const next = new pg.Client({
      connectionString: options.connectionString,
      application_name: LISTENER_APPLICATION_NAME,
    });
    client = next;
    // Without an error listener a dropped connection would be an uncaught exception.
    next.on("error", (error) => lost(next, error));
    next.on("end", () => lost(next));
    next.on("notification", () => options.onWake());
    try {
      await next.connect();
      await listenToOutbox(next);
    } catch (error) {
      lost(next, error);
      return;
    }
    if (failures > 0) log.info({ failures }, "outbox LISTEN connection restored");
    failures = 0;
    options.onWake();
  };

  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      const current = client;
      client = undefined;
      await current?.end().catch(() => {});
    },
  };
}
