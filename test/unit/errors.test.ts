import assert from "node:assert/strict";
import { test } from "node:test";
import { classifyError, describeNetworkError } from "../../src/errors.ts";

const withCode = (code: string, message = "x") => Object.assign(new Error(message), { code });

test("SQLSTATEs and network codes fall into the one table's classes", () => {
  assert.equal(classifyError(withCode("40001")), "conflict");
  assert.equal(classifyError(withCode("40P01")), "conflict");
  assert.equal(classifyError(withCode("08006")), "unavailable");
  assert.equal(classifyError(withCode("57P01")), "unavailable");
  assert.equal(classifyError(withCode("ECONNREFUSED")), "unavailable");
  assert.equal(classifyError(withCode("TL422")), "refused");
  assert.equal(classifyError(withCode("22P02")), "refused");
  assert.equal(classifyError(withCode("23505")), "other");
  assert.equal(classifyError(withCode("TL503")), "other");
  assert.equal(classifyError(new Error("Connection terminated unexpectedly")), "unavailable");
  assert.equal(classifyError(new Error("boom")), "other");
  // fetch wraps the network error: TypeError("fetch failed", { cause })
  assert.equal(classifyError(new TypeError("fetch failed", { cause: withCode("ECONNRESET") })), "unavailable");
});

test("a network failure is described without its address", () => {
  const cause = withCode("ECONNREFUSED", "connect ECONNREFUSED 10.0.0.7:8443");
  const text = describeNetworkError(new TypeError("fetch failed", { cause }));
  assert.equal(text, "connection refused (ECONNREFUSED)");
  assert.doesNotMatch(describeNetworkError(withCode("EWEIRD", "host 10.0.0.7:8443 said no")), /10\.0\.0\.7/);
});
