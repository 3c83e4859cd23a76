import { InvalidArgumentError } from '../errors.js';

/** Option checks shared by the bus adapters. */
export function checkPositiveInt(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${name} must be a whole number ≥ 1, got ${JSON.stringify(value)}.`, {
      [name]: value,
    });
  }
  return value;
}

export function checkName(value: unknown, name: string, pattern: RegExp): string {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new InvalidArgumentError(
      `${name} ${JSON.stringify(value)} is not usable: it must match ${String(pattern)}.`,
      {
        [name]: value,
      },
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
