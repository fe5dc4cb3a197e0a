import assert from "node:assert/strict";
import { test } from "node:test";
import { httpTarget } from "../../src/httpTarget.ts";

test("credentials in the URL become Basic auth and leave the URL", () => {
  const target = httpTarget("https://svc:s%40cret@refunds.internal:8443/v1/decide?key=abc123");
  assert.equal(target.url.href, "https://refunds.internal:8443/v1/decide?key=abc123");
  assert.equal(target.authorization, `Basic ${Buffer.from("svc:s@cret").toString("base64")}`);
  assert.equal(httpTarget("http://127.0.0.1:9/hook").authorization, undefined);
});

test("an answer that echoes the address keeps none of it", () => {
  const target = httpTarget("https://svc:s%40cret@hooks.example:8443/hooks/tok-93f1?key=abc123");
  const echoed =
    "Cannot POST /hooks/tok-93f1 (https://hooks.example:8443/hooks/tok-93f1?key=abc123, host hooks.example:8443, user svc, s@cret)";
  const text = target.excerpt(echoed, 500);
  for (const secret of ["tok-93f1", "abc123", "hooks.example:8443", "s@cret", "svc"])
    assert.equal(text.includes(secret), false, `${secret} in ${text}`);
  assert.match(text, /^Cannot POST \[address\]/);
  assert.equal(target.excerpt("x".repeat(300), 200).length, 200);
});
