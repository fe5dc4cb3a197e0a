// The task list is the files of tasks/: each default-exports its definition, named after its identifier.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { loadTaskDefinitions } from "../../src/taskList.ts";

test("every file of tasks/ is a task, under its file's name", async () => {
  const files = readdirSync(new URL("../../tasks", import.meta.url)).filter((f) => f.endsWith(".ts"));
  const definitions = await loadTaskDefinitions();
  assert.deepEqual(definitions.map((d) => `${d.identifier}.ts`).sort(), files.sort());
});

const broken: Array<[string, string, RegExp]> = [
  ["no default export", "export const task = 1;\n", /no_default\.ts: its default export is not a task definition/],
  [
    "a definition under another name",
    'export default { identifier: "other", payload: { safeParse() {} }, run() {} };\n',
    /misnamed\.ts: defines task "other"; a task file is named after its task/,
  ],
];
for (const [name, source, message] of broken) {
  test(`a task file with ${name} stops start-up, naming the file`, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "tld-tasks-"));
    writeFileSync(path.join(dir, name === "no default export" ? "no_default.ts" : "misnamed.ts"), source);
    await assert.rejects(loadTaskDefinitions(dir), message);
  });
}
