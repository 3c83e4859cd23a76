/** Errors of the event store: appends, reads, connections, migrations, checkpoints. */

import { ErrorCodes } from './codes.js';
import { EventlaneError, describeValue, isEventlaneError, type EventlaneErrorOptions } from './base.js';

/** Base of the errors that mean "someone else changed the data first". */
export class ConcurrencyError extends EventlaneError {}

export type ExpectedVersion = 'any' | 'no_stream' | 'stream_exists' | number;

export class ExpectedVersionConflictError extends ConcurrencyError {
  readonly stream: string;
  readonly expected: ExpectedVersion;
  /** The stream's version when the append was refused; 0 when the stream has no events. */
  readonly actual: number;

  constructor(stream: string, expected: ExpectedVersion, actual: number) {
    super(
      ErrorCodes.CONCURRENCY,
      `Stream ${JSON.stringify(stream)} is at version ${actual}, but the append expected ${describeExpected(expected)}. ` +
        'Another writer appended first: reload the stream, decide again, and retry with the new version.',
      { details: { stream, expected, actual } },
    );
    this.stream = stream;
    this.expected = expected;
    this.actual = actual;
  }
}

function describeExpected(expected: ExpectedVersion): string {
  switch (expected) {
    case 'no_stream':
      return 'no stream (no_stream)';
    case 'stream_exists':
      return 'an existing stream (stream_exists)';
    case 'any':
      return 'any version';
    default:
      return `version ${expected}`;
  }
}

export class InvalidEventError extends EventlaneError {
  /** Where in the event the problem is, e.g. `data.items[2].price`; empty for the event as a whole. */
  readonly path: string;

  constructor(message: string, path = '', options: EventlaneErrorOptions = {}) {
    super(ErrorCodes.INVALID_EVENT, message, { ...options, details: { path, ...options.details } });
    this.path = path;
  }
}

export class InvalidStreamNameError extends EventlaneError {
  constructor(message: string, stream: unknown) {
    super(ErrorCodes.INVALID_STREAM, message, { details: { stream } });
  }
}

export class EventTooLargeError extends EventlaneError {
  readonly sizeBytes: number;
  readonly limitBytes: number;

  constructor(index: number, type: string, sizeBytes: number, limitBytes: number) {
    super(
      ErrorCodes.EVENT_TOO_LARGE,
      `Event #${index} (${type}) is ${sizeBytes} bytes of JSON, over the store's limit of ${limitBytes} bytes. ` +
        'Store large payloads elsewhere and put a reference in the event, or raise `maxEventBytes`.',
      { details: { index, type, sizeBytes, limitBytes } },
    );
    this.sizeBytes = sizeBytes;
    this.limitBytes = limitBytes;
  }
}

export class AppendTooLargeError extends EventlaneError {
  /** What was over: the number of events, or the bytes of JSON of all of them. */
  readonly limitBytes: number | undefined;

  constructor(message: string, details: { events: number; sizeBytes?: number; limitBytes?: number }) {
    super(ErrorCodes.APPEND_TOO_LARGE, message, { details });
    this.limitBytes = details.limitBytes;
  }
}

export class DuplicateEventIdError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown>, cause?: unknown) {
    super(ErrorCodes.DUPLICATE_EVENT_ID, message, { details, cause });
  }
}

export class ConnectionError extends EventlaneError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCodes.CONNECTION, message, { cause });
  }
}

export class StatementTimeoutError extends EventlaneError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCodes.STATEMENT_TIMEOUT, message, { cause });
  }
}

export class MigrationError extends EventlaneError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCodes.MIGRATION, message, { cause });
  }
}

export class StoreClosedError extends EventlaneError {
  constructor() {
    super(ErrorCodes.CLOSED, 'The event store was closed; create a new one with createEventStore().');
  }
}

export class InvalidCheckpointError extends EventlaneError {
  constructor(value: unknown, reason = '') {
    super(
      ErrorCodes.INVALID_CHECKPOINT,
      `${describeValue(value)} is not a log checkpoint${reason}. Pass a checkpoint returned by eventlane ` +
        `("<txOrder>:<globalPosition>", e.g. "0:0" for the start of the log).`,
      { details: { value: typeof value === 'string' ? value : describeValue(value) } },
    );
  }
}

export function isConcurrencyError(error: unknown): error is ExpectedVersionConflictError {
  return isEventlaneError(error, ErrorCodes.CONCURRENCY);
}
