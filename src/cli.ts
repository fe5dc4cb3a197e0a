// ticket-lifecycle <command>: run | migrate | expire [--dry-run] | status [--json] | demo
import { parseArgs } from "node:util";
import { commands } from "./commands/index.ts";
import { ConfigError, loadEnv } from "./config/env.ts";
import { readLifecycleConfig } from "./config/lifecycleConfig.ts";
import { SchemaNotReady } from "./db/schemaState.ts";
import { createLogger } from "./logger.ts";

const usage = `usage: ticket-lifecycle <command> [options]

commands:
  run [--config FILE]   apply migrations, then run the daemon until SIGTERM/SIGINT
  migrate               apply pending migrations and exit
  expire [--dry-run]    queue an expiry sweep now; with --dry-run print what it would expire
  status [--json]       tickets, orders, jobs, outbox and alerts at a glance
  demo                  seed a small data set that shows expiry, delivery and order completion

environment: DATABASE_URL (unset: embedded PostgreSQL in ./.data), NOTIFICATION_URL, NOTIFICATION_SECRET,
REFUND_SERVICE_URL, CHANGE_SERVICE_URL, HTTP_PORT, HTTP_HOST, LOG_LEVEL, WORKER_CONCURRENCY, ...`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      "dry-run": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const name = positionals[0];
  if (values.help || !name) {
    console.log(usage);
    return name || values.help ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    console.error(`unknown command ${JSON.stringify(name)}\n\n${usage}`);
    return 2;
  }
  const env = loadEnv();
  const config = values.config ? readLifecycleConfig(values.config) : undefined;
  const log = createLogger(env.LOG_LEVEL);
  return command({ env, log, config, dryRun: values["dry-run"], json: values.json });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (
      error instanceof ConfigError ||
      error instanceof SchemaNotReady ||
      (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      console.error(`ticket-lifecycle: ${(error as Error).message}`);
    } else {
      console.error("ticket-lifecycle:", error);
    }
    process.exitCode = 1;
  },
);
