// `actions`: the latest rows of ticketing.operator_actions.
import type { Queryable } from "../sql/queryable.ts";
import { iso, printList } from "./format.ts";
import type { CommandContext } from "./index.ts";
import { withDatabase } from "./withDatabase.ts";

interface OperatorAction {
  id: string;
  actor: string;
  acted_at: Date;
  action: string;
  parameters: Record<string, unknown>;
  affected: number;
}

const LATEST = 20;

async function latestActions(db: Queryable): Promise<OperatorAction[]> {
  const { rows } = await db.query<OperatorAction>(
    `select * from (select id, actor, acted_at, action, parameters, affected
                      from ticketing.operator_actions order by id desc limit $1) latest order by id`,
    [LATEST],
  );
  return rows;
}

export async function actionsCommand(ctx: CommandContext): Promise<number> {
  const rows = await withDatabase(ctx, latestActions);
  printList(ctx.json, "operator action(s)", rows, [
    ["acted_at", (a) => iso(a.acted_at)],
    ["actor", (a) => a.actor],
    ["action", (a) => a.action],
    ["affected", (a) => a.affected],
    ["parameters", (a) => JSON.stringify(a.parameters)],
  ]);
  return 0;
}
