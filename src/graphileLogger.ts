import { Logger as GraphileLogger, type LogLevel } from "graphile-worker";
import type { Logger } from "./logger.ts";

const levels: Record<LogLevel, "error" | "warn" | "info" | "debug"> = {
  error: "error",
  warning: "warn",
  info: "info",
  debug: "debug",
};

/** Routes graphile-worker's own log lines into our pino logger, keeping its scope as fields. */
export function graphileLogger(log: Logger): GraphileLogger {
  return new GraphileLogger((scope) => (level, message, meta) => {
    log[levels[level]]({ component: "graphile-worker", ...scope, ...meta }, message);
  });
}
