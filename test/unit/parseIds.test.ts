// `refund --orders|--tickets FILE`: one id per line, kept as the decimal text it was written as.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseIds } from "../../src/commands/refund.ts";

test("one id per line, blank lines and surrounding spaces skipped, 64-bit ids exact", () => {
  assert.deepEqual(parseIds("1\n\n  9223372036854775807 \n42\n", "ids.txt"), ["1", "9223372036854775807", "42"]);
});

test("0 and negative ids are ids; their range is PostgreSQL's to judge, as for every caller", () => {
  assert.deepEqual(parseIds("0\n-7\n9223372036854775808\n", "ids.txt"), ["0", "-7", "9223372036854775808"]);
});

test("a bad line stops the file, naming its line", () => {
  assert.throws(() => parseIds("1\nx7\n", "ids.txt"), /ids\.txt line 2: "x7" is not an integer id/);
  assert.throws(() => parseIds("1.5\n", "stdin"), /stdin line 1: "1\.5" is not an integer id/);
  assert.throws(() => parseIds("\n\n", "ids.txt"), /ids\.txt holds no id/);
});
