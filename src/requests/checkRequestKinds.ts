import type { Queryable } from "../sql/queryable.ts";
import { requestKinds } from "../sql/requestKinds.ts";
import type { TaskDefinition } from "../taskDefinition.ts";

/**
 * Refuses to start unless ticketing.request_kinds and the task files agree, both ways: a row whose task no file
 * defines would leave its kind's jobs waiting forever; a request task whose kind its row does not name would
 * apply another kind's rules; a request task whose kind no row has fails every job it gets.
 */
export async function checkRequestKinds(
  db: Queryable,
  definitions: Array<Pick<TaskDefinition, "identifier" | "requestKind">>,
): Promise<void> {
  const rows = await requestKinds(db);
  const tasks = new Map(definitions.map((d) => [d.identifier, d]));
  const kinds = new Set(rows.map((row) => row.kind));
  const problems: string[] = [];
  for (const row of rows) {
    const task = tasks.get(row.taskIdentifier);
    if (!task) problems.push(`${row.kind}'s task ${row.taskIdentifier}: no file in tasks/ defines it`);
    else if (task.requestKind !== row.kind)
      problems.push(`tasks/${task.identifier}.ts runs kind ${task.requestKind ?? "none"}, its row says ${row.kind}`);
  }
  for (const task of definitions)
    if (task.requestKind !== undefined && !kinds.has(task.requestKind))
      problems.push(
        `tasks/${task.identifier}.ts runs kind ${task.requestKind}, which no row of ticketing.request_kinds has`,
      );
  if (problems.length > 0) throw new Error(`request kinds and task files disagree: ${problems.join("; ")}`);
}
