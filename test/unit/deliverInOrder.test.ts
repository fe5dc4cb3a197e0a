// Per-ticket order within a delivery round: one ticket's events one after the other, in id order; after a
// failure that ticket's later events wait for the next round; events of other tickets are not held back.
import assert from "node:assert/strict";
import { test } from "node:test";
import { deliverInOrder } from "../../src/delivery/deliverInOrder.ts";
import type { OutboxEvent } from "../../src/sql/claimEvents.ts";

const event = (id: number, ticketId: number | null): OutboxEvent => ({
  id: String(id),
  eventId: `e${id}`,
  type: "ticket.used",
  ticketId: ticketId === null ? null : String(ticketId),
  orderId: null,
  attempts: 0,
  message: "{}",
});

test("one ticket's events are sent one at a time in id order while other tickets go in parallel", async () => {
  const events = [event(1, 7), event(2, 8), event(3, 7), event(4, null), event(5, 7), event(6, 8)];
  const inFlight = new Map<string, number>();
  const sent: string[] = [];
  let maxParallel = 0;
  let parallel = 0;
  const outcome = await deliverInOrder(
    events,
    async (e) => {
      const key = e.ticketId ?? `alone:${e.id}`;
      assert.equal(inFlight.get(key) ?? 0, 0, `ticket ${key} had two events in flight`);
      inFlight.set(key, 1);
      parallel += 1;
      maxParallel = Math.max(maxParallel, parallel);
      await new Promise((resolve) => setTimeout(resolve, 5));
      sent.push(e.id);
      parallel -= 1;
      inFlight.set(key, 0);
      return { ok: true };
    },
    8,
    () => false,
  );
  assert.deepEqual(
    sent.filter((id) => ["1", "3", "5"].includes(id)),
    ["1", "3", "5"],
  );
  assert.deepEqual(
    sent.filter((id) => ["2", "6"].includes(id)),
    ["2", "6"],
  );
  assert.ok(maxParallel >= 2, "tickets were not delivered in parallel");
  assert.equal(outcome.delivered.length, 6);
  assert.equal(outcome.failed.length, 0);
});

test("after a failure the ticket's later events are not tried this round; other tickets go on", async () => {
  const events = [event(1, 7), event(2, 7), event(3, 8), event(4, 7)];
  const tried: string[] = [];
  const outcome = await deliverInOrder(
    events,
    async (e) => {
      tried.push(e.id);
      return e.id === "2" ? { ok: false, error: "503" } : { ok: true };
    },
    4,
    () => false,
  );
  assert.deepEqual(tried.sort(), ["1", "2", "3"]);
  assert.deepEqual(outcome.delivered.map((e) => e.id).sort(), ["1", "3"]);
  assert.deepEqual(
    outcome.failed.map((f) => [f.event.id, f.error]),
    [["2", "503"]],
  );
});

test("a send that throws counts as a failure of that event only", async () => {
  const outcome = await deliverInOrder(
    [event(1, 7), event(2, 8)],
    async (e) => {
      if (e.id === "1") throw new Error("socket hang up");
      return { ok: true };
    },
    2,
    () => false,
  );
  assert.deepEqual(
    outcome.delivered.map((e) => e.id),
    ["2"],
  );
  assert.equal(outcome.failed[0]?.event.id, "1");
  assert.match(outcome.failed[0]?.error ?? "", /socket hang up/);
});

test("once stopping, no new event starts; untried ones stay for the next round", async () => {
  let stopping = false;
  const outcome = await deliverInOrder(
    [event(1, 7), event(2, 7), event(3, 7)],
    async () => {
      stopping = true;
      return { ok: true };
    },
    1,
    () => stopping,
  );
  assert.deepEqual(
    outcome.delivered.map((e) => e.id),
    ["1"],
  );
  assert.equal(outcome.failed.length, 0);
});
