/**
 * Lets the dispatcher sleep until a timeout or a wake-up, whichever comes first. A wake-up that arrives
 * while nobody sleeps is remembered, so a notification during a round is never lost.
 */
export function createWakeSignal() {
  let pending = false;
  let wakeSleeper: (() => void) | undefined;
  return {
    wake() {
      pending = true;
      wakeSleeper?.();
    },
    /** Forgets earlier wake-ups: called right before a round reads the outbox. */
    clear() {
      pending = false;
    },
    sleep(ms: number): Promise<void> {
      if (pending) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wakeSleeper = undefined;
          resolve();
        }
        wakeSleeper = done;
      });
    },
  };
}
