// The README's `## Layout` block is the map a newcomer reads first: every path it names exists, every folder
// at the top of the repository or of src/ (that holds tracked files) is on it, and so is every file directly in
// src/ and docs/.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(import.meta.dirname, "../..");
/** The folders whose sub-folders must each be on the map ("" is the repository's top). */
const MAPPED = ["", "src/"];
const UNMAPPED = new Set(["node_modules/", ".data/", ".git/"]);
/** A line of the block: one or more comma-separated paths, then what they hold. */
const ENTRY = /^((?:[^\s,]+)(?:,\s*[^\s,]+)*)\s+\S/;

/** The paths the README's layout block names (a folder ends with a slash). */
function layoutPaths(readme: string): string[] {
  const block = /^## Layout\n+```\n([\s\S]*?)\n```/m.exec(readme)?.[1];
  if (block === undefined) throw new Error("README.md has no `## Layout` section with a code block");
  return block.split("\n").flatMap((line) => {
    const entry = ENTRY.exec(line);
    if (!entry) throw new Error(`layout line is not "PATH[, PATH] what it holds": ${JSON.stringify(line)}`);
    return (entry[1] as string).split(/,\s*/);
  });
}

/** The folders whose files must each be on the map by name. */
const LISTED_FILES = ["src/", "docs/"];

const trackedFiles = () =>
  execFileSync("git", ["ls-files"], { cwd: ROOT, encoding: "utf8" }).split("\n").filter(Boolean);

/** Folders directly under each of MAPPED that hold a tracked file. */
function trackedFolders(): string[] {
  const files = trackedFiles();
  const folders = new Set<string>();
  for (const file of files) {
    for (const parent of MAPPED) {
      if (!file.startsWith(parent)) continue;
      const rest = file.slice(parent.length).split("/");
      if (rest.length > 1) folders.add(`${parent}${rest[0]}/`);
    }
  }
  return [...folders].filter((folder) => !UNMAPPED.has(folder)).sort();
}

test("reads the README's entries (paths before what they hold)", () => {
  const readme = "# x\n\n## Layout\n\n```\nsrc/a.ts, src/b/ two things\nsql/       migrations\n```\n";
  assert.deepEqual(layoutPaths(readme), ["src/a.ts", "src/b/", "sql/"]);
});

test("every path the layout names exists", () => {
  const missing = layoutPaths(readFileSync(path.join(ROOT, "README.md"), "utf8")).filter(
    (listed) => !existsSync(path.join(ROOT, listed)),
  );
  assert.deepEqual(missing, [], `README layout names paths that do not exist: ${missing.join(", ")}`);
});

test("every folder at the top and under src/ is on the layout (itself, or something inside it)", () => {
  const listed = layoutPaths(readFileSync(path.join(ROOT, "README.md"), "utf8"));
  const unlisted = trackedFolders().filter((folder) => !listed.some((entry) => entry.startsWith(folder)));
  assert.deepEqual(unlisted, [], `README layout does not list: ${unlisted.join(", ")}`);
});

test("every file directly in src/ and docs/ is on the layout by name", () => {
  const listed = new Set(layoutPaths(readFileSync(path.join(ROOT, "README.md"), "utf8")));
  const unlisted = trackedFiles().filter(
    (file) =>
      LISTED_FILES.some((folder) => file.startsWith(folder) && !file.slice(folder.length).includes("/")) &&
      !listed.has(file),
  );
  assert.deepEqual(unlisted, [], `README layout does not list: ${unlisted.join(", ")}`);
});
