/**
 * Lets the dispatcher's lanes sleep until a timeout or a wake-up, whichever comes first. Each wake-up
 * starts a new generation; a lane that passes the generation it saw before its round returns at once
 * from sleep if a wake-up came meanwhile, so a notification during a round is never lost.
 *
 * `wake` rouses one sleeper only: one notification is one claim's worth of work, and every lane claiming
 * at once would give one lane the events and the others empty claims. Lanes busy meanwhile see the new
 * generation when their round ends. `wakeAll` is for stopping.
 */
export function createWakeSignal() {
  let generation = 0;
  const sleepers = new Set<() => void>();
  return {
    wake() {
      generation += 1;
      const [first] = sleepers;
      first?.();
    },
    wakeAll() {
      generation += 1;
      for (const sleeper of sleepers) sleeper();
    },
    generation: () => generation,
    sleep(ms: number, seenGeneration: number): Promise<void> {
      if (generation !== seenGeneration) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          sleepers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        sleepers.add(done);
      });
    },
  };
}
