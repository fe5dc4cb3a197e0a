// The pool's json parser: integers beyond 2^53 stay exact (a job payload's ticket id), everything else is JSON.parse.
import assert from "node:assert/strict";
import { test } from "node:test";
import { jsonInteger, parseExactJson, rawInteger } from "../../src/db/exactJson.ts";

test("an integer a double cannot hold is kept digit for digit, and written back the same", () => {
  const parsed = parseExactJson('{"ticket_id": 9007199254740993, "n": 12}') as { ticket_id: unknown; n: unknown };
  assert.equal(rawInteger(parsed.ticket_id), "9007199254740993");
  assert.equal(parsed.n, 12);
  assert.equal(JSON.stringify(parsed), '{"ticket_id":9007199254740993,"n":12}');
});

test("safe integers, decimals and exponents are plain numbers; rawInteger is undefined for them", () => {
  const parsed = parseExactJson("[1, -2, 1.5, 1e300, 12345678901234567890.5]") as unknown[];
  assert.deepEqual(parsed.slice(0, 4), [1, -2, 1.5, 1e300]);
  assert.equal(typeof parsed[4], "number");
  for (const value of parsed) assert.equal(rawInteger(value), undefined);
  assert.equal(rawInteger("9007199254740993"), undefined);
});

test("jsonInteger builds a raw number from decimal digits", () => {
  assert.equal(JSON.stringify({ id: jsonInteger("-9223372036854775808") }), '{"id":-9223372036854775808}');
});
