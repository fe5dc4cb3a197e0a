import type { Queryable } from "../sql/queryable.ts";
import { requestKinds } from "../sql/requestKinds.ts";

/**
 * Refuses to start when a row of ticketing.request_kinds names a task no file in tasks/ defines: that kind's
 * jobs would wait forever for a worker that never comes.
 */
export async function checkRequestKinds(db: Queryable, taskIdentifiers: string[]): Promise<void> {
  const defined = new Set(taskIdentifiers);
  const missing = (await requestKinds(db)).filter((row) => !defined.has(row.taskIdentifier));
  if (missing.length === 0) return;
  const named = missing.map((row) => `${row.kind} (task ${row.taskIdentifier})`).join(", ");
  throw new Error(`ticketing.request_kinds names request kinds no file in tasks/ defines a task for: ${named}`);
}
