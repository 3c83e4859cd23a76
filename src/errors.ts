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
  /** One append call holds more events, or more bytes of JSON in all, than the store takes per call. */
  APPEND_TOO_LARGE: 'EVENTLANE_APPEND_TOO_LARGE',
  /** An event id is already stored with other content or at another position. */
  DUPLICATE_EVENT_ID: 'EVENTLANE_DUPLICATE_EVENT_ID',
  /** An option or argument has a value eventlane cannot use. */
  INVALID_ARGUMENT: 'EVENTLANE_INVALID_ARGUMENT',
  /** The database cannot be reached or refused the connection. */
  CONNECTION: 'EVENTLANE_CONNECTION',
  /**
   * PostgreSQL cancelled a statement (SQLSTATE 57014): it ran longer than the store's `statementTimeoutMs`, or an
   * operator cancelled it. Nothing of the statement was kept; retrying is safe.
   */
  STATEMENT_TIMEOUT: 'EVENTLANE_STATEMENT_TIMEOUT',
  /** A migration could not be applied, or the database holds a newer schema than this code knows. */
  MIGRATION: 'EVENTLANE_MIGRATION',
  /** The store was used after `close()`. */
  CLOSED: 'EVENTLANE_CLOSED',
  /** A log checkpoint string could not be parsed. */
  INVALID_CHECKPOINT: 'EVENTLANE_INVALID_CHECKPOINT',
  /** An event of a declared type does not match the schema of its version. */
  SCHEMA_VALIDATION: 'EVENTLANE_SCHEMA_VALIDATION',
  /** An event's type is not declared and the store's policy is `undeclaredEvents: 'reject'`. */
  UNDECLARED_EVENT: 'EVENTLANE_UNDECLARED_EVENT',
  /** An event contract (defineEvent) or a contracts config is malformed. */
  INVALID_CONTRACT: 'EVENTLANE_INVALID_CONTRACT',
  /** An upcaster threw, or a stored event has a version its contract does not declare. */
  UPCAST: 'EVENTLANE_UPCAST',
  /** A consumer name was used that no definition given to the worker has. */
  UNKNOWN_CONSUMER: 'EVENTLANE_UNKNOWN_CONSUMER',
  /** A projection or reactor definition is malformed (name, handlers). */
  INVALID_CONSUMER: 'EVENTLANE_INVALID_CONSUMER',
  /** A handler broke its contract: it returned something other than a promise, or threw something that is not an Error. */
  HANDLER_CONTRACT: 'EVENTLANE_HANDLER_CONTRACT',
  /**
   * A handler failed and its failure could not be recorded (the database refused or lost the write). The event is
   * neither applied nor parked: the lane backs off (growing delay, bounded) and tries the event again.
   */
  FAILURE_NOT_RECORDED: 'EVENTLANE_FAILURE_NOT_RECORDED',
  /** A worker lost its lease on a partition (another worker took it over); its uncommitted work was rolled back. */
  LEASE_LOST: 'EVENTLANE_LEASE_LOST',
  /** A worker was used in a state that does not allow it (started twice, used after stop). */
  WORKER_STATE: 'EVENTLANE_WORKER_STATE',
  /** No parked event has the given id, or it is not in a state that allows the operation. */
  PARKED_EVENT_NOT_FOUND: 'EVENTLANE_PARKED_EVENT_NOT_FOUND',
  /** A message broker cannot be reached (refused, timed out, DNS) at connect or while publishing. */
  BUS_UNREACHABLE: 'EVENTLANE_BUS_UNREACHABLE',
  /** A message broker refused the credentials or the permissions of the connection. */
  BUS_AUTHENTICATION: 'EVENTLANE_BUS_AUTHENTICATION',
  /** A broker did not acknowledge a published batch (negative ack, unroutable message, timeout). */
  BUS_PUBLISH: 'EVENTLANE_BUS_PUBLISH',
  /** A bus was used before `connect()` or after `close()`. */
  BUS_CLOSED: 'EVENTLANE_BUS_CLOSED',
  /**
   * A message taken from a bus is not an event the eventlane relay could have published (not JSON, not a
   * CloudEvent, an attribute out of range, too large). The bus reports it, moves it to its dead-letter place and
   * goes on; `details.reason` says which kind of problem it is.
   */
  INVALID_BUS_MESSAGE: 'EVENTLANE_INVALID_BUS_MESSAGE',
  /**
   * An event's message is larger than the bus accepts (`bus.maxMessageBytes`). The relay parks it (and holds the
   * rest of its stream behind it) instead of retrying forever.
   */
  MESSAGE_TOO_LARGE: 'EVENTLANE_MESSAGE_TOO_LARGE',
  /** No relay-parked event has the given id, or it is not in a state that allows the operation. */
  RELAY_PARKED_NOT_FOUND: 'EVENTLANE_RELAY_PARKED_NOT_FOUND',
  /** Waiting for a condition (e.g. `relay.caughtUp()`) took longer than the caller allowed. */
  TIMEOUT: 'EVENTLANE_TIMEOUT',
  /** Two projections given together have the same name. */
  DUPLICATE_PROJECTION: 'EVENTLANE_DUPLICATE_PROJECTION',
  /** A projection's version is lower than the version already registered in the database. */
  PROJECTION_VERSION: 'EVENTLANE_PROJECTION_VERSION',
  /** A projection declares a table that another projection already owns. */
  PROJECTION_TABLE_CLASH: 'EVENTLANE_PROJECTION_TABLE_CLASH',
  /**
   * A name a projection needs in its read schema (a stable view or a versioned table) is held by a table, view or
   * other object eventlane did not create; eventlane leaves it as it is.
   */
  PROJECTION_OBJECT_TAKEN: 'EVENTLANE_PROJECTION_OBJECT_TAKEN',
  /** A contract snapshot names a file outside its folder, a symbolic link out of it, or a file it cannot read. */
  INVALID_SNAPSHOT: 'EVENTLANE_INVALID_SNAPSHOT',
  /**
   * A bus delivered an event the store does not hold (no event with that id, or one at another stream or position,
   * or with other content): the delivery was acknowledged and set aside, never applied.
   */
  DELIVERY_REJECTED: 'EVENTLANE_DELIVERY_REJECTED',
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

/**
 * A short, safe rendering of a value someone passed, for error messages: never throws (BigInt, cycles, getters
 * that throw), never runs to megabytes. Strings are quoted, BigInts get their `n`, objects are named, not dumped.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
    case 'bigint':
      return `${value}n`;
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      if (value === null) return 'null';
      if (Array.isArray(value)) return `an array of ${value.length}`;
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid Date' : 'a Date';
      return 'an object';
  }
}

/** One problem a schema found in an event, with where it is (`data.items[2].price`). */
export interface SchemaIssue {
  /** Index of the event in the append. */
  index: number;
  type: string;
  version: number;
  /** Path inside the event, starting at `data`, e.g. `data.amount`. */
  path: string;
  /** What the schema expected, in its own words. */
  message: string;
}

export class SchemaValidationError extends EventlaneError {
  readonly issues: readonly SchemaIssue[];

  constructor(issues: readonly SchemaIssue[]) {
    const first = issues[0];
    const head = first
      ? `events[${first.index}] (${first.type} v${first.version}) does not match its declared schema`
      : 'An event does not match its declared schema';
    const lines = issues.map(
      (i) => `  events[${i.index}] ${i.type} v${i.version} ${i.path || 'data'}: ${i.message}`,
    );
    super(
      ErrorCodes.SCHEMA_VALIDATION,
      `${head}; nothing was appended. ${issues.length} issue${issues.length === 1 ? '' : 's'}:\n${lines.join('\n')}\n` +
        'Fix the data to match the schema, or declare a new version of the event with defineEvent.',
      { details: { issues } },
    );
    this.issues = issues;
  }
}

export class UndeclaredEventError extends EventlaneError {
  constructor(index: number, type: string, declared: readonly string[]) {
    super(
      ErrorCodes.UNDECLARED_EVENT,
      `events[${index}] has type ${JSON.stringify(type)}, which no contract declares, and this store rejects ` +
        `undeclared types; nothing was appended. Declared: ${declared.length > 0 ? declared.join(', ') : '(none)'}. ` +
        "Add a defineEvent contract for it to `events`, or open the store with undeclaredEvents: 'allow'.",
      { details: { index, type } },
    );
  }
}

export class UnknownConsumerError extends EventlaneError {
  constructor(name: unknown, known: readonly string[]) {
    super(
      ErrorCodes.UNKNOWN_CONSUMER,
      `No consumer is named ${describeValue(name)}. Known consumers: ${known.length ? known.join(', ') : '(none)'}. ` +
        'Pass the name given to defineProjection/defineReactor.',
      { details: { name: describeValue(name), known } },
    );
  }
}

export class InvalidConsumerError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCodes.INVALID_CONSUMER, message, { details });
  }
}

export class HandlerContractError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(ErrorCodes.HANDLER_CONTRACT, message, { details, cause });
  }
}

export class FailureNotRecordedError extends EventlaneError {
  constructor(
    where: { consumer: string; stream: string; streamPosition: number; eventId: string },
    handlerError: string,
    cause: unknown,
    retryInMs: number,
  ) {
    super(
      ErrorCodes.FAILURE_NOT_RECORDED,
      `Consumer ${JSON.stringify(where.consumer)} failed on ${where.stream}@${where.streamPosition} ` +
        `(${JSON.stringify(handlerError.slice(0, 200))}), and recording that failure failed too: ` +
        `${cause instanceof Error ? cause.message : String(cause)}. The event is neither applied nor parked; the lane ` +
        `tries again in ${retryInMs} ms. Check that the database accepts writes to the schema's parked_events table.`,
      { details: { ...where, retryInMs }, cause },
    );
  }
}

export class LeaseLostError extends EventlaneError {
  constructor(group: string, partition: number, token: number) {
    super(
      ErrorCodes.LEASE_LOST,
      `This worker no longer owns partition ${partition} of group ${JSON.stringify(group)} (fencing token ${token}); ` +
        'another worker took it over. The work was rolled back and will be done by the new owner.',
      { details: { group, partition, token } },
    );
  }
}

/** Why a bus delivery was set aside (label `reason` of `eventlane_consumer_rejected_total`). */
export type DeliveryRejectReason = 'unknown_event' | 'wrong_position' | 'other_content';

export class DeliveryRejectedError extends EventlaneError {
  readonly reason: DeliveryRejectReason;
  constructor(
    reason: DeliveryRejectReason,
    consumer: string,
    delivered: { id: string; stream: string; streamPosition: number; type: string },
    what: string,
  ) {
    super(
      ErrorCodes.DELIVERY_REJECTED,
      `Consumer ${JSON.stringify(consumer)} received event ${delivered.id} (${JSON.stringify(delivered.type)} at ` +
        `${JSON.stringify(delivered.stream)} position ${delivered.streamPosition}) from the bus, but ${what}. ` +
        'The message was acknowledged and not applied; the store is the truth and the stream is read from it. ' +
        'Look for a producer that publishes to the relay subjects, or a corrupted message on the broker.',
      { details: { reason, consumer, ...delivered } },
    );
    this.reason = reason;
  }
}

export class InvalidContractError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(ErrorCodes.INVALID_CONTRACT, message, { details, cause });
  }
}

export class UpcastError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(ErrorCodes.UPCAST, message, { details, cause });
  }
}

export class WorkerStateError extends EventlaneError {
  constructor(message: string) {
    super(ErrorCodes.WORKER_STATE, message);
  }
}

export class ParkedEventNotFoundError extends EventlaneError {
  constructor(id: unknown, wanted: string) {
    super(
      ErrorCodes.PARKED_EVENT_NOT_FOUND,
      `No ${wanted} event has id ${JSON.stringify(id)}. List them with listParked() and pass an id from there.`,
      { details: { id } },
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

/** Why a bus refused a message it received: the `reason` label of `eventlane_bus_rejected_total`. */
export type BusRejectReason = 'not_json' | 'not_cloudevent' | 'invalid_attribute' | 'too_large';

export class InvalidBusMessageError extends EventlaneError {
  readonly reason: BusRejectReason;
  /** The CloudEvents attribute at fault (e.g. `id`, `sequence`); empty when the message as a whole is. */
  readonly attribute: string;

  constructor(reason: BusRejectReason, message: string, attribute = '', options: EventlaneErrorOptions = {}) {
    super(ErrorCodes.INVALID_BUS_MESSAGE, message, {
      ...options,
      details: { reason, attribute, ...options.details },
    });
    this.reason = reason;
    this.attribute = attribute;
  }
}

/**
 * A bus refuses one message for good: it is larger than the broker accepts. Thrown by `publish()` before anything
 * of the batch is sent; the relay parks the event rather than retry it.
 */
export class MessageTooLargeError extends EventlaneError {
  readonly bus: string;
  /** The event whose message is too large. */
  readonly eventId: string;
  readonly sizeBytes: number;
  readonly limitBytes: number;

  constructor(bus: string, event: { id: string; stream: string }, sizeBytes: number, limitBytes: number) {
    super(
      ErrorCodes.MESSAGE_TOO_LARGE,
      `Event ${event.id} of stream ${JSON.stringify(event.stream)} is ${sizeBytes} bytes as a message on the ${bus} bus, over ` +
        `the bus limit of ${limitBytes} bytes. Raise the broker's limit (e.g. NATS max_payload), or store large ` +
        'payloads elsewhere; cap new events with createEventStore({ maxEventBytes: maxEventBytesFor(bus) }).',
      { details: { bus, eventId: event.id, stream: event.stream, sizeBytes, limitBytes } },
    );
    this.bus = bus;
    this.eventId = event.id;
    this.sizeBytes = sizeBytes;
    this.limitBytes = limitBytes;
  }
}

export class RelayParkedNotFoundError extends EventlaneError {
  constructor(id: string, wanted: string) {
    super(
      ErrorCodes.RELAY_PARKED_NOT_FOUND,
      `No ${wanted} relay-parked event has id ${JSON.stringify(id)}. List them with relayParking(store).list() ` +
        'and pass an id from there.',
      { details: { id } },
    );
  }
}

export class TimeoutError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCodes.TIMEOUT, message, { details });
  }
}

export class DuplicateProjectionError extends EventlaneError {
  constructor(name: string) {
    super(
      ErrorCodes.DUPLICATE_PROJECTION,
      `Two projections are named ${JSON.stringify(name)}. Projection names key their tables, versions and ` +
        'checkpoints: give each projection its own name.',
      { details: { name } },
    );
  }
}

export class ProjectionVersionError extends EventlaneError {
  constructor(name: string, version: number, registered: number) {
    super(
      ErrorCodes.PROJECTION_VERSION,
      `Projection ${JSON.stringify(name)} is defined at version ${version}, but the database already has version ` +
        `${registered}. Versions only go up: to return to older logic, release it as version ${registered + 1}.`,
      { details: { name, version, registered } },
    );
  }
}

export class ProjectionTableClashError extends EventlaneError {
  constructor(table: string, name: string, owner: string) {
    super(
      ErrorCodes.PROJECTION_TABLE_CLASH,
      `Projection ${JSON.stringify(name)} declares table ${JSON.stringify(table)}, which projection ` +
        `${JSON.stringify(owner)} already owns. Rename the table, or retire ${JSON.stringify(owner)} first.`,
      { details: { table, name, owner } },
    );
  }
}

export class ProjectionObjectTakenError extends EventlaneError {
  constructor(name: string, schema: string, object: string, kind: string, role: string) {
    const where = `${schema}.${object}`;
    super(
      ErrorCodes.PROJECTION_OBJECT_TAKEN,
      `Projection ${JSON.stringify(name)} needs ${JSON.stringify(where)} for its ${role}, but a ${kind} of that ` +
        'name exists that eventlane did not create; it was left untouched. Rename the projection’s table, give ' +
        `createProjections another \`schema\`, or drop or rename ${JSON.stringify(where)} if it is no longer needed.`,
      { details: { name, schema, object, kind } },
    );
  }
}

/** A contract snapshot folder holds a file eventlane refuses to read; the message names the file, not its content. */
export class InvalidSnapshotError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCodes.INVALID_SNAPSHOT, message, { details });
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
