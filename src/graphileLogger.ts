import { Logger as GraphileLogger, type LogLevel } from "graphile-worker";
import type { Logger } from "./logger.ts";

// graphile-worker logs every completed job at info; at thousands of jobs a second that belongs in debug.
const levels: Record<LogLevel, "error" | "warn" | "debug"> = {
  error: "error",
  warning: "warn",
  info: "debug",
  debug: "debug",
};

/** Routes graphile-worker's own log lines into our pino logger, keeping its scope as fields. */
export function graphileLogger(log: Logger): GraphileLogger {
  return new GraphileLogger((scope) => (level, message, meta) => {
    log[levels[level]]({ component: "graphile-worker", ...scope, ...meta }, message);
  });
}
