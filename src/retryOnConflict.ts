import { backOff } from "./backoff.ts";
import { classifyError } from "./errors.ts";
import type { Logger } from "./logger.ts";

/** A conflict (errors.ts) rolled the whole transaction back, so running it again is safe. */
const CONFLICT_BACKOFF = { baseMs: 20, maxMs: 320 };

export async function retryOnConflict<T>(operation: () => Promise<T>, log: Logger, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (classifyError(error) !== "conflict" || attempt >= attempts) throw error;
      log.warn({ code: (error as { code?: string }).code, attempt }, "transaction conflict; retrying");
      await backOff(attempt, CONFLICT_BACKOFF);
    }
  }
}
