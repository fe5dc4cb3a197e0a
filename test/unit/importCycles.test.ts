// No module imports itself through others: a cycle makes load order decide what a module sees at start-up,
// and keeps two files from being read (or changed) one at a time. Static relative imports only, type-only
// ones included: `import type` is where today's cycles start, before someone adds a value to it.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(import.meta.dirname, "../..");
const FOLDERS = ["src", "tasks", "bin"];
const SOURCE = /\.(ts|js)$/;
/** `import … from "./x.ts"`, `export … from "../y.ts"`, `import "./z.ts"`; not `import("./dynamic.ts")`. */
const RELATIVE_IMPORT = /^\s*(?:import|export)\s(?:[^;'"]*?\sfrom\s*)?["'](\.\.?\/[^"']+)["']/gm;

function sourceFiles(folder: string): string[] {
  return readdirSync(path.join(ROOT, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && SOURCE.test(entry.name))
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)));
}

/** Each file (relative to the repository) with the files it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of FOLDERS.flatMap(sourceFiles)) {
    const text = readFileSync(path.join(ROOT, file), "utf8");
    const targets = [...text.matchAll(RELATIVE_IMPORT)].map((match) =>
      path.relative(ROOT, path.resolve(ROOT, path.dirname(file), match[1] as string)),
    );
    graph.set(file, targets);
  }
  return graph;
}

/** The first cycle found, as the path that closes it (a → b → a), or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const done = new Set<string>();
  const onPath: string[] = [];
  const visit = (file: string): string[] | undefined => {
    const at = onPath.indexOf(file);
    if (at >= 0) return [...onPath.slice(at), file];
    if (done.has(file)) return undefined;
    onPath.push(file);
    for (const target of graph.get(file) ?? []) {
      const cycle = visit(target);
      if (cycle) return cycle;
    }
    onPath.pop();
    done.add(file);
    return undefined;
  };
  for (const file of [...graph.keys()].sort()) {
    const cycle = visit(file);
    if (cycle) return cycle;
  }
  return undefined;
}

test("the graph sees the CLI's imports (the parser reads this repository's import style)", () => {
  const graph = importGraph();
  assert.ok(
    graph.get("src/cli.ts")?.some((target) => target.startsWith("src/commands/")),
    "src/cli.ts imports",
  );
});

test("finds a cycle and names it", () => {
  const graph = new Map([
    ["a.ts", ["b.ts"]],
    ["b.ts", ["c.ts"]],
    ["c.ts", ["a.ts"]],
    ["d.ts", ["a.ts"]],
  ]);
  assert.deepEqual(findCycle(graph), ["a.ts", "b.ts", "c.ts", "a.ts"]);
  assert.equal(findCycle(new Map([["a.ts", ["b.ts"]]])), undefined);
});

test("no import cycle under src/, tasks/ or bin/", () => {
  const cycle = findCycle(importGraph());
  assert.equal(cycle, undefined, `import cycle: ${cycle?.join(" → ")}`);
});
