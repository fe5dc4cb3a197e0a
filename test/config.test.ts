// The `lifecycle_daemon:` YAML (expire_job: schedule, batch_size; refund_job: schedule, consumer): valid files
// override the crontab; invalid ones are refused naming the key. The schedule: each item queued as its task's
// definition (the sweep: its identity in the database) says.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { ConfigError, loadEnv } from "../src/config/env.ts";
import { readLifecycleConfig } from "../src/config/lifecycleConfig.ts";
import { loadSchedule, type ScheduleSources } from "../src/loadSchedule.ts";
import { sweepJob } from "../src/sql/sweepJob.ts";
import { loadTaskDefinitions } from "../src/taskList.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "tld-config-"));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

let db: TestDatabase;
let sources: ScheduleSources;
before(async () => {
  db = await createTestDatabase();
  sources = { definitions: await loadTaskDefinitions(), sweep: await sweepJob(db.pool) };
});
after(async () => {
  await db.drop();
});

describe("lifecycle YAML", () => {
  test("a file of exactly that form is accepted and laid over the crontab", () => {
    const config = readLifecycleConfig(
      file(
        "lifecycle.yaml",
        `lifecycle_daemon:\n  expire_job:\n    schedule: "*/2 * * * *"\n    batch_size: 500\n  refund_job:\n    schedule: "*/3 * * * *"\n    consumer: "refund_queue_b"\n`,
      ),
    );
    const items = loadSchedule({ ...sources, config });
    const expire = items.find((i) => i.identifier === "expire_job");
    const refund = items.find((i) => i.identifier === "refund_job");
    assert.equal(expire?.task, "expire_tickets");
    assert.deepEqual(expire?.payload, { batch_size: 500 });
    assert.equal(expire?.options.queueName, "expire_tickets");
    assert.equal(expire?.options.maxAttempts, 1);
    assert.equal(refund?.options.queueName, "refund_queue_b");
    // */2 matches minute 4, not minute 5; the shipped */5 does the opposite.
    const at = (minute: number) => ({ min: minute, hour: 0, date: 1, month: 1, dow: 1 });
    assert.equal(expire?.match(at(4)), true);
    assert.equal(expire?.match(at(5)), false);
    assert.equal(refund?.match(at(3)), true);
    assert.equal(refund?.match(at(4)), false);
  });

  test("without a config the shipped crontab holds the defaults (every five minutes, batches of 200; every minute)", () => {
    const items = loadSchedule(sources);
    const expire = items.find((i) => i.identifier === "expire_job");
    assert.deepEqual(expire?.payload, { batch_size: 200 });
    const at = (minute: number) => ({ min: minute, hour: 0, date: 1, month: 1, dow: 1 });
    assert.equal(expire?.match(at(5)), true);
    assert.equal(expire?.match(at(4)), false);
    assert.equal(items.find((i) => i.identifier === "refund_job")?.match(at(4)), true);
    assert.equal(items.find((i) => i.identifier === "refund_job")?.options.queueName, "refund_queue");
  });

  test("each item is queued as its task's definition says; the sweep as ticketing.sweep_job() says", () => {
    const items = loadSchedule(sources);
    const expire = items.find((i) => i.identifier === "expire_job");
    const { queueName, jobKey, jobKeyMode, maxAttempts } = expire?.options ?? {};
    assert.deepEqual({ queueName, jobKey, jobKeyMode, maxAttempts }, sources.sweep.spec);
    const refund = items.find((i) => i.identifier === "refund_job");
    assert.equal(refund?.task, "redrive_requests");
    assert.equal(refund?.options.jobKey, "redrive_requests");
    assert.equal(refund?.options.jobKeyMode, "preserve_run_at");
    assert.equal(refund?.options.maxAttempts, 1);
  });

  const badCrontabs: Array<[string, string, RegExp]> = [
    [
      "a line that says how its task is queued",
      "*/5 * * * * expire_tickets ?id=expire_job&queue=elsewhere&max=3\n",
      /crontab: expire_job sets queueName, maxAttempts/,
    ],
    [
      "a line for a task no file defines",
      "* * * * * no_such_task ?id=x\n",
      /no_such_task, which no file in tasks\/ defines/,
    ],
  ];
  for (const [name, text, message] of badCrontabs) {
    test(`${name} is refused`, () => {
      const crontab = pathToFileURL(file(`crontab-${name.replaceAll(" ", "-")}`, text));
      assert.throws(() => loadSchedule(sources, crontab), message);
    });
  }

  const invalid: Array<[string, string, RegExp]> = [
    [
      "bad schedule",
      `lifecycle_daemon:\n  expire_job:\n    schedule: "every 5 minutes"\n`,
      /lifecycle_daemon\.expire_job\.schedule: not a valid 5-field cron pattern/,
    ],
    [
      "batch_size zero",
      `lifecycle_daemon:\n  expire_job:\n    batch_size: 0\n`,
      /lifecycle_daemon\.expire_job\.batch_size/,
    ],
    [
      "batch_size a string",
      `lifecycle_daemon:\n  expire_job:\n    batch_size: "200"\n`,
      /lifecycle_daemon\.expire_job\.batch_size/,
    ],
    ["unknown key", `lifecycle_daemon:\n  expire_job:\n    batch: 200\n`, /lifecycle_daemon\.expire_job.*batch/],
    [
      "bad consumer",
      `lifecycle_daemon:\n  refund_job:\n    consumer: "refund queue!"\n`,
      /lifecycle_daemon\.refund_job\.consumer/,
    ],
    ["missing top key", `expire_job:\n  batch_size: 5\n`, /lifecycle_daemon/],
    ["not YAML", `lifecycle_daemon: [unclosed\n`, /config .*not-YAML\.yaml: /],
  ];
  for (const [name, text, message] of invalid) {
    test(`${name} is refused with the key and the reason`, () => {
      const p = file(`${name.replaceAll(" ", "-")}.yaml`, text);
      assert.throws(
        () => readLifecycleConfig(p),
        (error: unknown) => error instanceof ConfigError && message.test((error as Error).message),
      );
    });
  }
});

describe("environment", () => {
  test("a Standard Webhooks secret (whsec_ and the base64 of 24-64 bytes) is accepted", () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
    assert.equal(loadEnv({ NOTIFICATION_SECRET: secret }).NOTIFICATION_SECRET, secret);
    assert.throws(
      () => loadEnv({ NOTIFICATION_SECRET: `whsec_${Buffer.alloc(65, 7).toString("base64")}` }),
      ConfigError,
    );
  });
  test("defaults", () => {
    const env = loadEnv({});
    assert.equal(env.CLOUDEVENTS_SOURCE, "/ticket-lifecycle-daemon");
    assert.equal(env.HTTP_PORT, 9464);
    assert.equal(env.WORKER_CONCURRENCY, 4);
    assert.equal(env.DATABASE_URL, undefined);
  });
  for (const [key, value] of [
    ["HTTP_PORT", "abc"],
    ["HTTP_PORT", "70000"],
    ["WORKER_CONCURRENCY", "0"],
    ["LOG_LEVEL", "loud"],
    ["DATABASE_URL", "mysql://x"],
    ["NOTIFICATION_URL", "not a url"],
    ["NOTIFICATION_SECRET", "short"],
    // The secret form of the webhook's first version: no longer accepted.
    ["NOTIFICATION_SECRET", "s3cret-signing-key-for-tests-0123456789"],
    ["NOTIFICATION_SECRET", "whsec_c2hvcnQta2V5"],
    ["NOTIFICATION_SECRET", "whsec_not base64 at all!"],
    ["CLOUDEVENTS_SOURCE", "a source with spaces"],
  ] as const) {
    test(`${key}=${value} is a one-line error naming ${key} and not echoing the value`, () => {
      assert.throws(
        () => loadEnv({ [key]: value }),
        (error: unknown) =>
          error instanceof ConfigError &&
          (error as Error).message.includes(key) &&
          !(error as Error).message.includes("\n") &&
          (value.length < 4 || !(error as Error).message.includes(value)),
      );
    });
  }
});
