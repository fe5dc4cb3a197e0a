export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * The one backoff rule: the delay before the next try of something that has now failed `failures` times in a
 * row (a transaction that met a conflict, a dispatcher round against a database that went away, the LISTEN
 * connection, a worker connection waiting out a restart), doubling from baseMs, capped at maxMs, then scaled by
 * a random factor in [0.5, 1) so what failed together does not all come back in the same instant. An outbox
 * event's own retry delay follows the same rule in SQL (ticketing.outbox_retry_delay), where its attempts are
 * counted.
 */
export function retryDelayMs(failures: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 40);
  const capped = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  return Math.round(capped * (0.5 + random() / 2));
}

/** Waits retryDelayMs(failures, policy). */
export const backOff = (failures: number, policy: BackoffPolicy): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, retryDelayMs(failures, policy)));
