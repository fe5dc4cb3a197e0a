import { type Logger, pino } from "pino";

export type { Logger };

/** Structured JSON logs; ids go in fields. Secrets are redacted wherever they would appear. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
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
    destination as pino.DestinationStream | undefined,
  );
}
