/**
 * The error hierarchy of eventlane.
 *
 * Every error carries a stable `code`. Check errors with the guards below (`isEventlaneError(e, 'EVENTLANE_…')`)
 * rather than with `instanceof` alone: two copies of the package in one process still agree on codes.
 */

export const ErrorCodes = {
  /** An expected-version check failed: another writer appended first. */
  CONCURRENCY: 'EVENTLANE_CONCURRENCY',
  /** An event is malformed: bad type name, non-JSON data, bad id, … */
  INVALID_EVENT: 'EVENTLANE_INVALID_EVENT',
  /** A stream name is empty, too long or contains control characters. */
  INVALID_STREAM: 'EVENTLANE_INVALID_STREAM',
  /** An event's serialized data and metadata exceed the store's size limit. */
  EVENT_TOO_LARGE: 'EVENTLANE_EVENT_TOO_LARGE',
  /** An event id is already stored with other content or at another position. */
  DUPLICATE_EVENT_ID: 'EVENTLANE_DUPLICATE_EVENT_ID',
  /** An option or argument has a value eventlane cannot use. */
  INVALID_ARGUMENT: 'EVENTLANE_INVALID_ARGUMENT',
  /** The database cannot be reached or refused the connection. */
  CONNECTION: 'EVENTLANE_CONNECTION',
  /** A migration could not be applied, or the database holds a newer schema than this code knows. */
  MIGRATION: 'EVENTLANE_MIGRATION',
  /** The store was used after `close()`. */
  CLOSED: 'EVENTLANE_CLOSED',
  /** A log checkpoint string could not be parsed. */
  INVALID_CHECKPOINT: 'EVENTLANE_INVALID_CHECKPOINT',
  /** A message broker cannot be reached (refused, timed out, DNS) at connect or while publishing. */
  BUS_UNREACHABLE: 'EVENTLANE_BUS_UNREACHABLE',
  /** A message broker refused the credentials or the permissions of the connection. */
  BUS_AUTHENTICATION: 'EVENTLANE_BUS_AUTHENTICATION',
  /** A broker did not acknowledge a published batch (negative ack, unroutable message, timeout). */
  BUS_PUBLISH: 'EVENTLANE_BUS_PUBLISH',
  /** A bus was used before `connect()` or after `close()`. */
  BUS_CLOSED: 'EVENTLANE_BUS_CLOSED',
  /** Waiting for a condition (e.g. `relay.caughtUp()`) took longer than the caller allowed. */
  TIMEOUT: 'EVENTLANE_TIMEOUT',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface EventlaneErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class EventlaneError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: EventlaneErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
  }
}

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

export class DuplicateEventIdError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown>, cause?: unknown) {
    super(ErrorCodes.DUPLICATE_EVENT_ID, message, { details, cause });
  }
}

export class InvalidArgumentError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCodes.INVALID_ARGUMENT, message, { details });
  }
}

export class ConnectionError extends EventlaneError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCodes.CONNECTION, message, { cause });
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
  constructor(value: unknown) {
    super(
      ErrorCodes.INVALID_CHECKPOINT,
      `${JSON.stringify(value)} is not a log checkpoint. Pass a checkpoint returned by eventlane ` +
        `(\"<txId>:<globalPosition>\", e.g. \"0:0\" for the start of the log).`,
      { details: { value } },
    );
  }
}

/** A bus could not do its work; `code` says whether the broker was unreachable, refused us, or did not ack. */
export class BusError extends EventlaneError {
  /** `'nats'`, `'rabbitmq'`, `'redis'`, `'embedded'`. */
  readonly bus: string;

  constructor(
    code:
      | typeof ErrorCodes.BUS_UNREACHABLE
      | typeof ErrorCodes.BUS_AUTHENTICATION
      | typeof ErrorCodes.BUS_PUBLISH
      | typeof ErrorCodes.BUS_CLOSED,
    bus: string,
    message: string,
    options: EventlaneErrorOptions = {},
  ) {
    super(code, message, { ...options, details: { bus, ...options.details } });
    this.bus = bus;
  }
}

export class TimeoutError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCodes.TIMEOUT, message, { details });
  }
}

/** True when `error` is an eventlane error, optionally of the given code. Works across package copies. */
export function isEventlaneError(error: unknown, code?: ErrorCode): error is EventlaneError {
  if (typeof error !== 'object' || error === null) return false;
  const c = (error as { code?: unknown }).code;
  if (typeof c !== 'string' || !c.startsWith('EVENTLANE_')) return false;
  return code === undefined || c === code;
}

export function isConcurrencyError(error: unknown): error is ExpectedVersionConflictError {
  return isEventlaneError(error, ErrorCodes.CONCURRENCY);
}
