// The outbox's retry delay: doubling from the base, capped, jittered into [0.5, 1) of the capped delay.
import assert from "node:assert/strict";
import { test } from "node:test";
import { retryDelayMs } from "../../src/backoff.ts";

const policy = { baseMs: 1_000, maxMs: 60_000 };

test("doubles per failure from the base, with the random factor at its top", () => {
  const top = () => 0.999999;
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((failures) => retryDelayMs(failures, policy, top)),
    [1_000, 2_000, 4_000, 8_000, 16_000],
  );
});

test("is capped at maxMs however many failures came before", () => {
  const top = () => 0.999999;
  assert.equal(retryDelayMs(7, policy, top), 60_000);
  assert.equal(retryDelayMs(10_000, policy, top), 60_000);
});

test("jitter keeps every delay within [half, all] of the capped delay", () => {
  for (const failures of [1, 3, 6, 50]) {
    const capped = Math.min(policy.maxMs, policy.baseMs * 2 ** (failures - 1));
    assert.equal(
      retryDelayMs(failures, policy, () => 0),
      capped / 2,
    );
    for (let i = 0; i < 200; i++) {
      const delay = retryDelayMs(failures, policy);
      assert.ok(delay >= capped / 2 && delay <= capped, `${delay} outside [${capped / 2}, ${capped}]`);
    }
  }
});

test("zero or negative failure counts get the base delay, never less", () => {
  assert.equal(
    retryDelayMs(0, policy, () => 0.999999),
    1_000,
  );
  assert.equal(
    retryDelayMs(-3, policy, () => 0.999999),
    1_000,
  );
});
