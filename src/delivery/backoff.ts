export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * Delay before the next attempt of an event that has now failed `failures` times: doubling from baseMs,
 * capped at maxMs, then scaled by a random factor in [0.5, 1) so events that failed together (a sink
 * outage) do not all come back in the same instant.
 */
export function retryDelayMs(failures: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 40);
  const capped = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  return Math.round(capped * (0.5 + random() / 2));
}
