// Log lines are JSON with ids in fields; secrets never reach them; graphile-worker's per-job info lines go to debug.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { graphileLogger } from "../../src/graphileLogger.ts";
import { createLogger } from "../../src/logger.ts";

function capture(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger(level, stream), lines };
}

test("secrets are redacted wherever the documented keys appear", () => {
  const { log, lines } = capture("info");
  log.info(
    {
      password: "p",
      secret: "s",
      databaseUrl: "postgres://u:p@h/d",
      sink: { secret: "s2" },
      headers: { authorization: "a" },
    },
    "configured",
  );
  const [line] = lines;
  assert.equal(line?.password, "[redacted]");
  assert.equal(line?.secret, "[redacted]");
  assert.equal(line?.databaseUrl, "[redacted]");
  assert.deepEqual(line?.sink, { secret: "[redacted]" });
  assert.deepEqual(line?.headers, { authorization: "[redacted]" });
  assert.equal(line?.service, "ticket-lifecycle-daemon");
  assert.equal(line?.msg, "configured");
});

test("graphile-worker's lines keep their scope as fields; its info is our debug", () => {
  const { log, lines } = capture("debug");
  const worker = graphileLogger(log).scope({ label: "job", workerId: "w1" });
  worker.info("Completed task 7", { jobId: "7" });
  worker.warn("slow", {});
  worker.error("failed", {});
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg, l.component, l.workerId]),
    [
      [20, "Completed task 7", "graphile-worker", "w1"],
      [40, "slow", "graphile-worker", "w1"],
      [50, "failed", "graphile-worker", "w1"],
    ],
  );
  assert.equal(lines[0]?.jobId, "7");
});
