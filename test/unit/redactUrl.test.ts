import assert from "node:assert/strict";
import { test } from "node:test";
import { redactUrl } from "../../src/db/redactUrl.ts";

test("a connection string loses its password, nothing else", () => {
  assert.equal(
    redactUrl("postgres://daemon:s3cret@db.example.com:5432/ticketing?sslmode=require"),
    "postgres://daemon:***@db.example.com:5432/ticketing?sslmode=require",
  );
  assert.equal(redactUrl("postgres://daemon@db/ticketing"), "postgres://daemon@db/ticketing");
});

test("an unparseable one is never echoed", () => {
  assert.equal(redactUrl("host=db password=s3cret"), "(unparseable connection string)");
});
