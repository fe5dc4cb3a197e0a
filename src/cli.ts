// ticket-lifecycle <command> [options]: the commands are in src/commands/commandTable.ts. A command's answer goes to
// stdout, its logs to stderr (readable lines on a terminal, JSON otherwise, or as LOG_FORMAT says).
import { parseArgs } from "node:util";
import type { OptionValues } from "./commands/commandContext.ts";
import { type CommandSpec, commandTable } from "./commands/commandTable.ts";
import { ConfigError, loadEnv } from "./config/env.ts";
import { readLifecycleConfig } from "./config/lifecycleConfig.ts";
import { SchemaNotReady } from "./db/checkSchema.ts";
import { createCliLogger } from "./logger.ts";

const synopsis = (name: string, spec: CommandSpec) => `${name}${spec.synopsis ? ` ${spec.synopsis}` : ""}`;

function usage(): string {
  const lines = Object.entries(commandTable).map(([name, spec]) => `  ${synopsis(name, spec)}\n      ${spec.summary}`);
  return `usage: ticket-lifecycle <command> [options]

commands:
${lines.join("\n")}

TIME is anything PostgreSQL reads as a timestamptz ('2026-12-01 10:00Z', 'today', ...).
environment: DATABASE_URL (unset: embedded PostgreSQL in ./.data), NOTIFICATION_URL, NOTIFICATION_SECRET,
REFUND_SERVICE_URL, CHANGE_SERVICE_URL, HTTP_PORT, HTTP_HOST, LOG_LEVEL, LOG_FORMAT (json|pretty), WORKER_CONCURRENCY, ...`;
}

/** The longest command name the arguments start with: two words (`jobs retry`), else one. */
function findCommand(argv: string[]): { name: string; spec: CommandSpec; rest: string[] } | undefined {
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(" ");
    const spec = argv.length >= words ? commandTable[name] : undefined;
    if (spec) return { name, spec, rest: argv.slice(words) };
  }
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h") {
    console.log(usage());
    return argv.length === 0 ? 2 : 0;
  }
  const found = findCommand(argv);
  if (!found) {
    const family = Object.entries(commandTable).filter(([name]) => name.startsWith(`${argv[0]} `));
    console.error(
      family.length
        ? `${argv[0]} needs one of:\n${family.map(([name, spec]) => `  ${synopsis(name, spec)}`).join("\n")}`
        : `unknown command ${JSON.stringify(argv.slice(0, 2).join(" "))}\n\n${usage()}`,
    );
    return 2;
  }
  const { name, spec, rest } = found;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { ...spec.options, help: { type: "boolean", short: "h", default: false } },
  }) as { values: OptionValues; positionals: string[] };
  if (values.help) {
    console.log(`usage: ticket-lifecycle ${synopsis(name, spec)}\n  ${spec.summary}`);
    return 0;
  }
  if (positionals.length !== (spec.arguments ?? 0)) {
    console.error(`usage: ticket-lifecycle ${synopsis(name, spec)}`);
    return 2;
  }
  const env = loadEnv();
  const config = typeof values.config === "string" ? readLifecycleConfig(values.config) : undefined;
  // A command that answers logs warnings and errors only, unless LOG_LEVEL asks for more detail or for less.
  const answerLevel = ["trace", "debug", "error", "fatal", "silent"].includes(env.LOG_LEVEL) ? env.LOG_LEVEL : "warn";
  const log = createCliLogger(spec.answers ? answerLevel : env.LOG_LEVEL, env.LOG_FORMAT);
  return spec.run({
    env,
    log,
    config,
    dryRun: values["dry-run"] === true,
    json: values.json === true,
    options: values,
    args: positionals,
  });
}

/** Errors a person can act on print as one line: bad input, a refusal from SQL (TLnnn), a database error. */
function oneLine(error: unknown): string | undefined {
  if (error instanceof ConfigError || error instanceof SchemaNotReady) return error.message;
  const { code, message } = error as { code?: string; message?: string };
  if (code?.startsWith("ERR_PARSE_ARGS") || code?.startsWith("TL") || (error as { severity?: string }).severity)
    return message;
  return undefined;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const line = oneLine(error);
    if (line) console.error(`ticket-lifecycle: ${line}`);
    else console.error("ticket-lifecycle:", error);
    process.exitCode = 1;
  },
);
