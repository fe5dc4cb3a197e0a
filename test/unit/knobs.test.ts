// The knobs' start-up rules (src/config/knobs.ts) and the services' own rules in their options schemas.
import assert from "node:assert/strict";
import { test } from "node:test";
import { serviceOptionsProblem } from "../../src/backgroundService.ts";
import { ConfigError, loadEnv } from "../../src/config/env.ts";
import { checkKnobs, type KnobSet, knobProblems, knobSetFor, knobs, poolSizeFor } from "../../src/config/knobs.ts";
import { checkSettings } from "../../src/daemon.ts";
import { dispatcherOptionsSchema } from "../../src/delivery/dispatcher.ts";
import { alertMonitorOptionsSchema } from "../../src/maintenance/alertMonitor.ts";
import { jobCleanerOptionsSchema } from "../../src/maintenance/jobCleaner.ts";
import { lifelineOptionsSchema } from "../../src/maintenance/lifeline.ts";

const env = loadEnv({});
const defaults = (): KnobSet => knobSetFor(env, knobs.dispatcher.lanes);

test("the shipped knobs and the default environment break no rule", () => {
  assert.deepEqual(knobProblems(defaults()), []);
  for (const [name, schema] of [
    ["dispatcher", dispatcherOptionsSchema],
    ["lifeline", lifelineOptionsSchema],
    ["job cleaner", jobCleanerOptionsSchema],
    ["alert monitor", alertMonitorOptionsSchema],
  ] as const)
    assert.equal(serviceOptionsProblem(name, schema, {}), undefined, name);
  assert.equal(checkSettings(env), env.WORKER_CONCURRENCY + 13);
});

test("the request lease must outlast the longest rule-service call, with a margin", () => {
  const problems = knobProblems({ ...defaults(), env: { ...env, HTTP_TIMEOUT_MS: 120_000 } });
  assert.deepEqual(problems, [
    "the request lease (120 s) must outlast HTTP_TIMEOUT_MS (120000 ms) plus 10000 ms: set HTTP_TIMEOUT_MS to at most 110000",
  ]);
  assert.deepEqual(knobProblems({ ...defaults(), env: { ...env, HTTP_TIMEOUT_MS: 110_000 } }), []);
});

test("with a shared rate limit, the wait for a slot counts inside the lease", () => {
  const limited = { ...env, HTTP_TIMEOUT_MS: 110_000, REFUND_SERVICE_CONCURRENCY: 4 };
  assert.deepEqual(knobProblems({ ...defaults(), env: limited }), [
    "the request lease (120 s) must outlast HTTP_TIMEOUT_MS (110000 ms) plus the rate limit's wait (30000 ms) plus 10000 ms: set HTTP_TIMEOUT_MS to at most 80000",
  ]);
  assert.deepEqual(knobProblems({ ...defaults(), env: { ...limited, HTTP_TIMEOUT_MS: 80_000 } }), []);
});

test("a backoff's max must be at least its base; a forced shutdown no longer than a graceful one", () => {
  assert.deepEqual(
    knobProblems({
      ...defaults(),
      backoffs: { databaseRetry: { baseMs: 500, maxMs: 100 } },
      shutdown: { gracefulTimeoutMs: 1_000, abandonTimeoutMs: 2_000 },
    }),
    [
      "databaseRetry: maxMs (100) must be at least baseMs (500)",
      "shutdown: abandonTimeoutMs (2000) must not exceed gracefulTimeoutMs (1000)",
    ],
  );
});

test("the pool must hold what the jobs and services use; it grows with the dispatcher's lanes", () => {
  const [problem] = knobProblems({ ...defaults(), poolSize: 10 });
  assert.match(problem ?? "", /^the pool \(10 connections\) must hold what the jobs and services use \(17: jobs 4, /);
  assert.equal(poolSizeFor(env, 4), poolSizeFor(env, 2) + 2);
});

test("every rule broken is named in one ConfigError line", () => {
  assert.throws(
    () =>
      checkKnobs({ ...defaults(), env: { ...env, HTTP_TIMEOUT_MS: 120_000 }, poolSize: 1 }, [
        "lifeline options: deadAfterMs: …",
      ]),
    (error: unknown) =>
      error instanceof ConfigError &&
      !error.message.includes("\n") &&
      /^invalid settings: lifeline options: .*; the request lease .*; the pool \(1 connections\)/.test(error.message),
  );
  assert.throws(() => checkSettings(loadEnv({ HTTP_TIMEOUT_MS: "120000" })), {
    message: /^invalid settings: the request lease/,
  });
});

test("a service's own rules: three heartbeats before a daemon counts dead; backoff max at least its base; no unknown option", () => {
  assert.equal(
    serviceOptionsProblem("lifeline", lifelineOptionsSchema, { heartbeatMs: 5_000, deadAfterMs: 10_000 }),
    "lifeline options: deadAfterMs: must be at least three heartbeats (15000), got 10000",
  );
  assert.equal(
    serviceOptionsProblem("lifeline", lifelineOptionsSchema, { heartbeatMs: 100, deadAfterMs: 300 }),
    undefined,
  );
  assert.equal(
    serviceOptionsProblem("dispatcher", dispatcherOptionsSchema, { backoffBaseMs: 2_000, backoffMaxMs: 1_000 }),
    "dispatcher options: backoffMaxMs: must be at least backoffBaseMs",
  );
  assert.match(
    serviceOptionsProblem("job cleaner", jobCleanerOptionsSchema, { intervalMS: 5 }) ?? "",
    /^job cleaner options: \(root\): Unrecognized key/,
  );
});
