import { backOff } from "./backoff.ts";
import { knobs } from "./config/knobs.ts";
import { classifyError } from "./errors.ts";
import type { Logger } from "./logger.ts";

/** A conflict (errors.ts) rolled the whole transaction back, so running it again is safe. */
export async function retryOnConflict<T>(
  operation: () => Promise<T>,
  log: Logger,
  attempts: number = knobs.conflictRetry.attempts,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (classifyError(error) !== "conflict" || attempt >= attempts) throw error;
      log.warn({ code: (error as { code?: string }).code, attempt }, "transaction conflict; retrying");
      await backOff(attempt, knobs.conflictRetry);
    }
  }
}
