import { describeValue, InvalidArgumentError } from '../errors.js';
import { MAX_ERROR_CODE_BYTES, MAX_ERROR_MESSAGE_BYTES, storableText } from './error-text.js';

/** Parked-row ids are PostgreSQL bigints. */
const MAX_ID = 2n ** 63n - 1n;

/**
 * Checks an operator's parked-row id (a string of digits from a `list()`). A number beyond the bigint range names no
 * row: `notFound` builds the error for it, as PostgreSQL would otherwise refuse the query (SQLSTATE 22003).
 */
export function parkedIdOf(id: unknown, what: string, notFound: (id: string) => Error): string {
  if (typeof id !== 'string' || !/^\d{1,19}$/.test(id)) {
    throw new InvalidArgumentError(
      `A ${what} id is a string of digits from list(), got ${describeValue(id)}.`,
    );
  }
  if (BigInt(id) > MAX_ID) throw notFound(id);
  return id;
}

/** Who skipped a parked event and why, as stored. */
export interface SkipNote {
  by: string;
  reason: string | null;
}

/**
 * Checks a skip's `{ by, reason }` and makes both storable like error text: a NUL or a megabyte pasted into the
 * reason must not make the skip fail.
 */
export function skipNoteOf(options: unknown): SkipNote {
  const { by, reason } = (options ?? {}) as { by?: unknown; reason?: unknown };
  if (typeof by !== 'string' || by.length === 0) {
    throw new InvalidArgumentError('skip needs { by: "<who>" } so the skip is recorded with its operator.');
  }
  if (reason !== undefined && typeof reason !== 'string') {
    throw new InvalidArgumentError(`skip's reason must be a string, got ${describeValue(reason)}.`);
  }
  return {
    by: storableText(by, MAX_ERROR_CODE_BYTES),
    reason: reason === undefined ? null : storableText(reason, MAX_ERROR_MESSAGE_BYTES),
  };
}
