/** Errors of command handling (`store.handle`). */

import { ErrorCodes } from './codes.js';
import { ConcurrencyError } from './store.js';

/**
 * Every attempt of a command met a concurrency conflict: other writers kept appending to the stream between its
 * read and its append. Same code as any concurrency conflict (`EVENTLANE_CONCURRENCY`); the last conflict is the
 * cause.
 */
export class CommandConflictError extends ConcurrencyError {
  readonly stream: string;
  readonly attempts: number;

  constructor(stream: string, attempts: number, cause: unknown) {
    super(
      ErrorCodes.CONCURRENCY,
      `The command on stream ${JSON.stringify(stream)} met a concurrency conflict on each of its ${attempts} ` +
        'attempts: other writers appended first every time, and nothing of it was written. Retry it later, raise ' +
        'maxRetries, or split the stream if this many writers contend for it.',
      { cause, details: { stream, attempts } },
    );
    this.stream = stream;
    this.attempts = attempts;
  }
}
