import type { Logger } from "./logger.ts";

// Deadlock and serialization failures roll the whole transaction back, so running it again is safe.
const RETRYABLE = new Set(["40P01", "40001"]);

export async function retryOnConflict<T>(operation: () => Promise<T>, log: Logger, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (!code || !RETRYABLE.has(code) || attempt >= attempts) throw error;
      log.warn({ code, attempt }, "transaction conflict; retrying");
      await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt * Math.random()));
    }
  }
}
