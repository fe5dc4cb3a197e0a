// `alerts` and `alerts clear KEY`.
import { activeAlerts } from "../sql/activeAlerts.ts";
import { resolveAlert } from "../sql/resolveAlert.ts";
import type { CommandContext } from "./commandContext.ts";
import { iso, oneLine, printAction, printList } from "./output.ts";
import { withDatabase } from "./withDatabase.ts";

export async function alertsCommand(ctx: CommandContext): Promise<number> {
  const rows = await withDatabase(ctx, activeAlerts);
  printList(ctx.json, "active alert(s)", rows, [
    ["raised_at", (a) => iso(a.raised_at)],
    ["kind", (a) => a.kind],
    ["key", (a) => a.key],
    ["message", (a) => oneLine(a.message, 80)],
  ]);
  return 0;
}

export async function alertsClearCommand(ctx: CommandContext): Promise<number> {
  const key = ctx.args[0] as string;
  const alert = await withDatabase(ctx, (pool) => resolveAlert(pool, key, ctx.dryRun));
  printAction({
    dryRun: ctx.dryRun,
    json: ctx.json,
    verb: "clear",
    past: "cleared",
    noun: "active alert(s)",
    rows: alert ? [alert] : [],
    columns: [
      ["kind", (a) => a.kind],
      ["key", (a) => a.key],
      ["raised_at", (a) => iso(a.raised_at)],
      ["message", (a) => oneLine(a.message, 80)],
    ],
  });
  return alert ? 0 : 1;
}
