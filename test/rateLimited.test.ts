// The shared rate limit toward a rule service bounds its wait: a call that cannot start within
// knobs.requests.rateLimitWaitMs fails as an unavailable service would (retried with backoff), so the request's
// lease never runs out while its holder still waits for a slot.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { knobs } from "../src/config/knobs.ts";
import { rateLimited } from "../src/requests/rateLimited.ts";
import { RuleUnavailable } from "../src/requests/ruleService.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

const request = { event_id: "e", kind: "refund", ticket_id: "1", order_id: "1", meta: {} };

test("a call whose turn is further off than the wait allows fails at once as unavailable", async () => {
  let calls = 0;
  const decide = rateLimited(
    async () => {
      calls += 1;
      return { target_status: "refunded" };
    },
    db.pool,
    // One start per 1,000 s: the second call's turn is far beyond the bound.
    { name: "bounded_wait_test", rate: 0.001, concurrency: undefined },
    1_000,
  );
  assert.deepEqual(await decide(request), { target_status: "refunded" });
  const started = Date.now();
  await assert.rejects(decide(request), (error: unknown) => {
    assert.ok(error instanceof RuleUnavailable);
    assert.match((error as Error).message, /no call slot free within 30000 ms/);
    return true;
  });
  assert.equal(calls, 1);
  assert.ok(Date.now() - started < knobs.requests.rateLimitWaitMs, "it did not wait out the bound first");
});
