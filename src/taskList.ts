// The daemon's tasks are the files of tasks/: each default-exports its definition (defineTask), named after
// the identifier it is enqueued with. Adding a task is adding a file.
import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { TaskList } from "graphile-worker";
import { type TaskDefinition, taskFor } from "./taskDefinition.ts";
import type { TaskDeps } from "./taskDeps.ts";

const tasksDirectory = fileURLToPath(new URL("../tasks", import.meta.url));

function isTaskDefinition(value: unknown): value is TaskDefinition {
  if (value === null || typeof value !== "object") return false;
  const { identifier, payload, run } = value as Record<string, unknown>;
  return (
    typeof identifier === "string" &&
    typeof run === "function" &&
    typeof (payload as { safeParse?: unknown } | undefined)?.safeParse === "function"
  );
}

/**
 * Every task definition in `directory` (tasks/), by file name. A file whose default export is not a task
 * definition, or whose definition's identifier is not its name, stops start-up with an error naming it.
 */
export async function loadTaskDefinitions(directory = tasksDirectory): Promise<TaskDefinition[]> {
  const files = (await readdir(directory)).filter((file) => file.endsWith(".ts")).sort();
  const definitions: TaskDefinition[] = [];
  for (const file of files) {
    const where = path.join(directory, file);
    const { default: definition } = (await import(pathToFileURL(where).href)) as { default?: unknown };
    if (!isTaskDefinition(definition))
      throw new Error(`${where}: its default export is not a task definition (export default defineTask({...}))`);
    if (definition.identifier !== path.basename(file, ".ts"))
      throw new Error(`${where}: defines task "${definition.identifier}"; a task file is named after its task`);
    definitions.push(definition);
  }
  return definitions;
}

/** graphile-worker's task list: every definition, by the identifier other services enqueue it with. */
export function buildTaskList(definitions: TaskDefinition[], deps: TaskDeps): TaskList {
  return Object.fromEntries(definitions.map((definition) => [definition.identifier, taskFor(definition, deps)]));
}
