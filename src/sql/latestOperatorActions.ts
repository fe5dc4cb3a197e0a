import type { Queryable } from "./queryable.ts";

export interface OperatorAction {
  id: string;
  actor: string;
  acted_at: Date;
  action: string;
  parameters: Record<string, unknown>;
  affected: number;
}

/** The latest `limit` rows of ticketing.operator_actions, oldest first. */
export async function latestOperatorActions(db: Queryable, limit: number): Promise<OperatorAction[]> {
  const { rows } = await db.query<OperatorAction>(
    "select id, actor, acted_at, action, parameters, affected from ticketing.latest_operator_actions($1)",
    [limit],
  );
  return rows;
}
