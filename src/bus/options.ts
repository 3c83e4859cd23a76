import { describeValue, InvalidArgumentError } from '../errors.js';

/** Option checks shared by the bus adapters, the relay, the worker and the projections. */
export function checkPositiveInt(
  value: unknown,
  name: string,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(
      `${name} must be a whole number ${max === Number.MAX_SAFE_INTEGER ? '≥ 1' : `from 1 to ${max}`}, ` +
        `got ${describeValue(value)}.`,
      { [name]: describeValue(value) },
    );
  }
  return value;
}

/**
 * The longest delay Node's timers honour: setTimeout clamps anything longer to 1 ms, so an idle loop configured
 * with a larger interval would spin (an idle relay ran ~100 queries per second).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Checks a duration option in milliseconds: a whole number from `min` (1 unless 0 means "off") to MAX_TIMER_MS
 * (about 24.8 days). Every timer option of eventlane goes through here.
 */
export function checkDuration(value: unknown, name: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > MAX_TIMER_MS) {
    throw new InvalidArgumentError(
      `${name} must be a whole number of milliseconds from ${min} to ${MAX_TIMER_MS} (about 24.8 days), ` +
        `got ${describeValue(value)}.`,
      { [name]: describeValue(value) },
    );
  }
  return value;
}

export function checkName(value: unknown, name: string, pattern: RegExp): string {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new InvalidArgumentError(
      `${name} ${describeValue(value)} is not usable: it must match ${String(pattern)}.`,
      { [name]: describeValue(value) },
    );
  }
  return value;
}

/** Rejects with `onTimeout()` when `promise` has not settled within `ms`: no broker call may hang forever. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  promise.catch(() => undefined);
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
