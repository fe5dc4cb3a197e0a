import { type DestinationStream, type Logger, pino } from "pino";
import pinoPretty from "pino-pretty";

export type { Logger };

export type LogFormat = "json" | "pretty";

/** Structured JSON logs; ids go in fields. Secrets are redacted wherever they would appear. */
export function createLogger(level: string, destination?: NodeJS.WritableStream | DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "ticket-lifecycle-daemon", pid: process.pid },
      redact: {
        paths: [
          "secret",
          "password",
          "databaseUrl",
          "*.secret",
          "*.password",
          "*.databaseUrl",
          "headers.authorization",
        ],
        censor: "[redacted]",
      },
    },
    destination as DestinationStream | undefined,
  );
}

/**
 * The CLI's logger: always on stderr (stdout carries a command's answer alone), as JSON for machines or
 * as readable lines for a person. Without `format`, a terminal on stderr gets readable lines.
 * Both are written synchronously, so nothing is lost when a command exits.
 */
export function createCliLogger(level: string, format?: LogFormat): Logger {
  const chosen = format ?? (process.stderr.isTTY ? "pretty" : "json");
  const destination =
    chosen === "pretty"
      ? pinoPretty({
          destination: 2,
          sync: true,
          colorize: Boolean(process.stderr.isTTY),
          translateTime: "SYS:HH:MM:ss.l",
          ignore: "pid,hostname,service",
        })
      : pino.destination({ fd: 2, sync: true });
  return createLogger(level, destination);
}
