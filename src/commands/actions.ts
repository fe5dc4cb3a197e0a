// `actions`: the latest rows of ticketing.operator_actions.
import { latestOperatorActions } from "../sql/latestOperatorActions.ts";
import type { CommandContext } from "./commandContext.ts";
import { iso, printList } from "./output.ts";
import { withDatabase } from "./withDatabase.ts";

const LATEST = 20;

export async function actionsCommand(ctx: CommandContext): Promise<number> {
  const rows = await withDatabase(ctx, (pool) => latestOperatorActions(pool, LATEST));
  printList(ctx.json, "operator action(s)", rows, [
    ["acted_at", (a) => iso(a.acted_at)],
    ["actor", (a) => a.actor],
    ["action", (a) => a.action],
    ["affected", (a) => a.affected],
    ["parameters", (a) => JSON.stringify(a.parameters)],
  ]);
  return 0;
}
