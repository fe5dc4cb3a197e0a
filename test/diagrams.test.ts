// docs/lifecycles.md draws the ticket lifecycle; its edges must be exactly the state machine's transitions.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

/** The `from --> to` edges of the first mermaid block after `heading`, without the start and end markers. */
function drawnEdges(markdown: string, heading: string): string[] {
  const section = markdown.split(`\n${heading}\n`)[1];
  const block = section?.split("```mermaid\n")[1]?.split("```")[0];
  assert.ok(block, `no mermaid block under ${heading}`);
  return block
    .split("\n")
    .map((line) => /^\s*(\w+)\s*-->\s*(\w+)/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => `${match[1]} -> ${match[2]}`)
    .sort();
}

test("the ticket drawing's edges are exactly ticketing.transitions", async () => {
  const markdown = readFileSync(new URL("../docs/lifecycles.md", import.meta.url), "utf8");
  const { rows } = await db.pool.query<{ edge: string }>(
    "select from_status || ' -> ' || to_status as edge from ticketing.transitions order by 1",
  );
  assert.deepEqual(
    drawnEdges(markdown, "## Ticket"),
    rows.map((r) => r.edge),
  );
});
