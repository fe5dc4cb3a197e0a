// The dispatcher's wake signal: a wake-up during a round is never lost, and one wake rouses one sleeper.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createWakeSignal } from "../../src/delivery/wakeSignal.ts";

const settled = async (promise: Promise<void>) => {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

test("a wake-up that came after the generation was read ends the next sleep at once", async () => {
  const signal = createWakeSignal();
  const seen = signal.generation();
  signal.wake();
  assert.equal(await settled(signal.sleep(60_000, seen)), true);
});

test("without a wake-up the sleep lasts until its timeout", async () => {
  const signal = createWakeSignal();
  const sleep = signal.sleep(30, signal.generation());
  assert.equal(await settled(sleep), false);
  await sleep;
});

test("wake rouses one sleeper; wakeAll rouses every one", async () => {
  const signal = createWakeSignal();
  const a = signal.sleep(60_000, signal.generation());
  const b = signal.sleep(60_000, signal.generation());
  signal.wake();
  const woken = [await settled(a), await settled(b)];
  assert.deepEqual(woken.sort(), [false, true]);
  signal.wakeAll();
  assert.deepEqual([await settled(a), await settled(b)], [true, true]);
});
