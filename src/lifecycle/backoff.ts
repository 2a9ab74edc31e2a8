/** Exponential backoff for restarting a model whose workers keep failing to load or keep crashing. */

export interface BackoffPolicy {
  baseMilliseconds: number;
  maxMilliseconds: number;
}

export const DEFAULT_RESTART_BACKOFF: BackoffPolicy = { baseMilliseconds: 1_000, maxMilliseconds: 30_000 };

/**
 * How long to wait before the next start after `consecutiveFailures` failures in a row: the first
 * failure is retried at once (a one-off crash costs nothing), then base, 2 × base, 4 × base … up to max.
 */
export function restartDelayMilliseconds(consecutiveFailures: number, policy: BackoffPolicy): number {
  if (consecutiveFailures <= 1) return 0;
  return Math.min(policy.maxMilliseconds, policy.baseMilliseconds * 2 ** (consecutiveFailures - 2));
}
