// The stalled-schedule check: which scheduled ticks have passed since the last good run.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCronItems } from "graphile-worker";
import { missedTicks, recentTicks } from "../../src/maintenance/scheduleTicks.ts";

const [everyFive] = parseCronItems([{ task: "expire_tickets", identifier: "expire_job", match: "*/5 * * * *" }]);
const item = everyFive!;

test("recentTicks lists the due minutes at or before now, newest first, in UTC", () => {
  const now = new Date("2026-12-01T10:12:30Z");
  assert.deepEqual(
    recentTicks(item, now, 3).map((d) => d.toISOString()),
    ["2026-12-01T10:10:00.000Z", "2026-12-01T10:05:00.000Z", "2026-12-01T10:00:00.000Z"],
  );
});

test("a tick due this very minute counts", () => {
  const now = new Date("2026-12-01T10:15:00Z");
  assert.equal(recentTicks(item, now, 1)[0]?.toISOString(), "2026-12-01T10:15:00.000Z");
});

test("missedTicks: true only once `missed` ticks have all come after the last good run", () => {
  const now = new Date("2026-12-01T10:12:30Z");
  assert.equal(missedTicks(item, new Date("2026-12-01T09:59:00Z"), now, 3), true);
  assert.equal(missedTicks(item, new Date("2026-12-01T10:00:00Z"), now, 3), false);
  assert.equal(missedTicks(item, new Date("2026-12-01T10:01:00Z"), now, 3), false);
});
