import assert from "node:assert/strict";
import { test } from "node:test";
import { z } from "zod";
import { formatZodError } from "../../src/config/formatZodError.ts";

test("one line naming each bad key and why, never the value", () => {
  const schema = z.object({ HTTP_PORT: z.coerce.number().int().max(65535), db: z.object({ url: z.string() }) });
  const result = schema.safeParse({ HTTP_PORT: "70000", db: { url: 42 } });
  assert.equal(result.success, false);
  const line = formatZodError(result.error as z.ZodError);
  assert.match(line, /^HTTP_PORT: .+; db\.url: .+$/);
  assert.ok(!line.includes("70000") && !line.includes("42"), line);
});

test("a problem with the whole value is named (root)", () => {
  const result = z.string().safeParse(1);
  assert.match(formatZodError(result.error as z.ZodError), /^\(root\): /);
});
