export interface RetryOptions {
  /** Attempts before an event is parked (the first try counts). @defaultValue 10 */
  maxAttempts: number;
  /** Delay after the first failure. @defaultValue 100 */
  baseDelayMs: number;
  /** Largest delay between attempts. @defaultValue 30000 */
  maxDelayMs: number;
  /**
   * Share of each delay that is random, 0–1: the delay is drawn from [d·(1−jitter), d]. Jitter spreads the retries
   * of many failing streams so they do not hit a recovering dependency at the same instant. @defaultValue 0.5
   */
  jitter: number;
}

export const DEFAULT_RETRY: RetryOptions = {
  maxAttempts: 10,
  baseDelayMs: 100,
  maxDelayMs: 30_000,
  jitter: 0.5,
};

/** Exponential backoff with jitter: base · 2^(attempt−1), capped, minus a random share. */
export function backoffDelay(
  options: RetryOptions,
  attempt: number,
  random: () => number = Math.random,
): number {
  const exp = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (1 - options.jitter * random()));
}

/**
 * After an unexpected error (database gone, a failure that could not be recorded) a lane waits before it starts
 * again from what is committed: 500 ms, doubling with each further error in a row, at most 30 s. Growing, so a
 * persistent fault costs a handler call and a few queries per 30 s instead of a hot loop; bounded, so the lane is
 * back within 30 s of the fault clearing.
 */
export const LANE_ERROR_BACKOFF = { baseMs: 500, maxMs: 30_000 } as const;
