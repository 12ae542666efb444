/** Exponential backoff with jitter, capped: a dead server costs almost nothing and a fleet coming back does not stampede. */

/**
 * Delay before retry number `failures` (1 = first retry): base * 2^(failures-1), capped, then
 * "equal jitter": uniformly in [d/2, d]. `random` is injectable for tests.
 */
export function backoffDelay(
  failures: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, Math.min(failures - 1, 40)));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** Resync interval with ±10% jitter so targets spread out over time. */
export function resyncDelay(seconds: number, random: () => number = Math.random): number {
  return Math.round(seconds * 1000 * (0.9 + random() * 0.2));
}
