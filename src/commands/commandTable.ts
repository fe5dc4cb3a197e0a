// The CLI's command table: one entry per command (a name of one or two words), its options declared beside
// it. A new command is one more entry; cli.ts parses, prints the usage and runs whatever is here.
import type { ParseArgsConfig } from "node:util";
import { actionsCommand } from "./actions.ts";
import { alertsClearCommand, alertsCommand } from "./alerts.ts";
import type { Command } from "./commandContext.ts";
import { demoCommand } from "./demo.ts";
import { eventsReplayCommand } from "./events.ts";
import { expireCommand } from "./expire.ts";
import { jobsDiscardCommand, jobsFailedCommand, jobsRetryCommand } from "./jobs.ts";
import { migrateCommand } from "./migrate.ts";
import { refundCommand } from "./refund.ts";
import { requestsRetryCommand } from "./requests.ts";
import { runCommand } from "./run.ts";
import { statusCommand } from "./status.ts";

export interface CommandSpec {
  /** The arguments after the name, for the usage text. */
  synopsis: string;
  summary: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  /**
   * The command prints an answer: its routine log lines (database opened, migrations applied) are noise
   * next to it, so only warnings and errors are logged unless LOG_LEVEL is debug, trace or quieter than warn.
   */
  answers: boolean;
  /** Positional arguments it takes after its name (none unless set). */
  arguments?: number;
  run: Command;
}

const dryRun = { "dry-run": { type: "boolean", default: false } } as const;
const json = { json: { type: "boolean", default: false } } as const;

export const commandTable: Record<string, CommandSpec> = {
  run: {
    synopsis: "[--config FILE]",
    summary: "apply migrations, then run the daemon until SIGTERM/SIGINT",
    options: { config: { type: "string" } },
    answers: false,
    run: runCommand,
  },
  migrate: {
    synopsis: "",
    summary: "apply pending migrations and exit",
    options: {},
    answers: false,
    run: migrateCommand,
  },
  expire: {
    synopsis: "[--dry-run]",
    summary: "queue an expiry sweep now; with --dry-run print what it would expire",
    options: { ...dryRun },
    answers: true,
    run: expireCommand,
  },
  status: {
    synopsis: "[--json]",
    summary: "tickets, orders, jobs, outbox and alerts at a glance",
    options: { ...json },
    answers: true,
    run: statusCommand,
  },
  demo: {
    synopsis: "",
    summary: "seed a small data set that shows expiry, delivery and order completion",
    options: {},
    answers: true,
    run: demoCommand,
  },
  refund: {
    synopsis: "--orders FILE|--tickets FILE --event-id ID [--dry-run]",
    summary: "refund every ticket of the orders / the tickets (one id per line, - for stdin); progress on stderr",
    options: { orders: { type: "string" }, tickets: { type: "string" }, "event-id": { type: "string" }, ...dryRun },
    answers: true,
    run: refundCommand,
  },
  "requests retry": {
    synopsis:
      "[--event-id E] [--ticket T] [--order O] [--failed-since TIME] [--failed-until TIME] [--dry-run] [--json]",
    summary: "failed refund/change requests back to pending and queued again (filters combine; one is required)",
    options: {
      "event-id": { type: "string" },
      ticket: { type: "string" },
      order: { type: "string" },
      "failed-since": { type: "string" },
      "failed-until": { type: "string" },
      ...dryRun,
      ...json,
    },
    answers: true,
    run: requestsRetryCommand,
  },
  "events replay": {
    synopsis: "[--ticket T] [--order O] [--type TYPE] [--since TIME] [--until TIME] [--dry-run] [--wait] [--json]",
    summary: "send delivered events again, with their original ids; --wait follows the redelivery on stderr",
    options: {
      ticket: { type: "string" },
      order: { type: "string" },
      type: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      wait: { type: "boolean", default: false },
      ...dryRun,
      ...json,
    },
    answers: true,
    run: eventsReplayCommand,
  },
  "jobs failed": {
    synopsis: "[--json]",
    summary: "jobs out of attempts (graphile-worker will not run them again)",
    options: { ...json },
    answers: true,
    run: jobsFailedCommand,
  },
  "jobs retry": {
    synopsis: "--id N [--id N ...] [--dry-run] [--json]",
    summary: "permanently failed jobs due again now, with their attempts back",
    options: { id: { type: "string", multiple: true }, ...dryRun, ...json },
    answers: true,
    run: jobsRetryCommand,
  },
  "jobs discard": {
    synopsis: "--id N [--id N ...] [--dry-run] [--json]",
    summary: "delete permanently failed jobs",
    options: { id: { type: "string", multiple: true }, ...dryRun, ...json },
    answers: true,
    run: jobsDiscardCommand,
  },
  alerts: { synopsis: "[--json]", summary: "active alerts", options: { ...json }, answers: true, run: alertsCommand },
  "alerts clear": {
    synopsis: "KEY [--dry-run] [--json]",
    summary: "clear an active alert (an alert.cleared event goes out)",
    options: { ...dryRun, ...json },
    answers: true,
    arguments: 1,
    run: alertsClearCommand,
  },
  actions: {
    synopsis: "[--json]",
    summary: "the latest operator actions: who did what, when, how many",
    options: { ...json },
    answers: true,
    run: actionsCommand,
  },
};
