// The commands' answers on stdout: aligned tables for a person, JSON with exact ids for jq.
import assert from "node:assert/strict";
import { test } from "node:test";
import { age, oneLine, rowsTable, table, toJson } from "../../src/commands/output.ts";

test("a table pads each column to its widest cell: numbers to the right, text to the left", () => {
  assert.equal(
    table(
      ["status", "count"],
      [
        ["usable", 12],
        ["expired", 3],
      ],
    ),
    ["  status   count", "  usable      12", "  expired      3"].join("\n"),
  );
});

test("rowsTable shows a missing value as a dash", () => {
  const rows = [{ id: "7", error: null }];
  assert.equal(
    rowsTable(rows, [
      ["id", (r) => r.id],
      ["error", (r) => r.error],
    ]),
    ["  id  error", "  7   -"].join("\n"),
  );
});

test("age reads as seconds, minutes and seconds, or hours and minutes", () => {
  assert.deepEqual([age(59), age(61), age(3_600), age(7_322)], ["59s", "1m 1s", "1h 0m", "2h 2m"]);
});

test("toJson writes id columns as exact JSON numbers, dates as ISO text, other strings unchanged", () => {
  const text = toJson({
    id: "9223372036854775807",
    ticket_id: "9007199254740993",
    event_id: "123",
    at: new Date("2026-12-01T10:00:00Z"),
  });
  assert.equal(
    text,
    [
      "{",
      '  "id": 9223372036854775807,',
      '  "ticket_id": 9007199254740993,',
      '  "event_id": "123",',
      '  "at": "2026-12-01T10:00:00.000Z"',
      "}",
    ].join("\n"),
  );
});

test("oneLine flattens whitespace and cuts at the width with an ellipsis", () => {
  assert.equal(oneLine("a\n  b\tc"), "a b c");
  assert.equal(oneLine("abcdefghij", 5), "abcd…");
  assert.equal(oneLine(null), null);
});
