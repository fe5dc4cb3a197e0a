// `jobs failed | retry | discard`: graphile-worker's permanently failed jobs, through ticketing functions.
import { z } from "zod";
import { failedJobs } from "../sql/failedJobs.ts";
import { type SettledJob, settleFailedJobs } from "../sql/settleFailedJobs.ts";
import type { CommandContext } from "./commandContext.ts";
import { decimalId } from "./decimalId.ts";
import { type Column, iso, oneLine, printAction, printList } from "./output.ts";
import { parseOptions } from "./parseOptions.ts";
import { withDatabase } from "./withDatabase.ts";

export async function jobsFailedCommand(ctx: CommandContext): Promise<number> {
  const rows = await withDatabase(ctx, (pool) => failedJobs(pool));
  printList(ctx.json, "permanently failed job(s)", rows, [
    ["id", (j) => j.id],
    ["task", (j) => j.task],
    ["attempts", (j) => `${j.attempts}/${j.max_attempts}`],
    ["failed_at", (j) => iso(j.failed_at)],
    ["last_error", (j) => oneLine(j.last_error)],
  ]);
  return 0;
}

const idsSchema = z.object({ id: z.array(decimalId).min(1, "give at least one --id") });
const settledColumns: Array<Column<SettledJob>> = [
  ["id", (j) => j.id],
  ["task", (j) => j.task],
  ["attempts", (j) => j.attempts],
  ["last_error", (j) => oneLine(j.last_error)],
];

function settleCommand(how: "retry" | "discard", past: string) {
  return async (ctx: CommandContext): Promise<number> => {
    const { id } = parseOptions(idsSchema, { id: ctx.options.id ?? [] });
    const rows = await withDatabase(ctx, (pool) => settleFailedJobs(pool, how, id, ctx.dryRun));
    printAction({
      dryRun: ctx.dryRun,
      json: ctx.json,
      verb: how,
      past,
      noun: "permanently failed job(s)",
      rows,
      columns: settledColumns,
    });
    return 0;
  };
}

export const jobsRetryCommand = settleCommand("retry", "retried");
export const jobsDiscardCommand = settleCommand("discard", "discarded");
