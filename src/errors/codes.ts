/** The codes of eventlane's errors: every error carries one, and a code is stable across releases. */

export const ErrorCodes = {
  /** An expected-version check failed: another writer appended first. */
  CONCURRENCY: 'EVENTLANE_CONCURRENCY',
  /** An event is malformed: bad type name, non-JSON data, bad id, … */
  INVALID_EVENT: 'EVENTLANE_INVALID_EVENT',
  /**
   * An event's `metadata.traceparent` or `metadata.tracestate` is not in the W3C Trace Context format (or a
   * tracestate comes without a traceparent). Nothing was appended.
   */
  INVALID_TRACE_CONTEXT: 'EVENTLANE_INVALID_TRACE_CONTEXT',
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
  /** A replay's range cannot be used: it ends before it starts, or a bound is not a checkpoint or a time. */
  REPLAY_RANGE: 'EVENTLANE_REPLAY_RANGE',
  /**
   * A replay's kind does not fit its consumer or options: a reactor in a rebuild or backfill, a projection in a dry
   * run, a live reactor replay without `allowEffects`, `reprocess` for a reactor.
   */
  REPLAY_MODE: 'EVENTLANE_REPLAY_MODE',
  /** A replay over more events than the preview threshold was started without the token of its `plan`. */
  REPLAY_PREVIEW_REQUIRED: 'EVENTLANE_REPLAY_PREVIEW_REQUIRED',
  /** A preview token does not match the job being started (other range, filter, consumer, or kind). */
  REPLAY_PREVIEW_MISMATCH: 'EVENTLANE_REPLAY_PREVIEW_MISMATCH',
  /** No replay job has the given id. */
  REPLAY_JOB_NOT_FOUND: 'EVENTLANE_REPLAY_JOB_NOT_FOUND',
  /** A replay job is in a state that does not allow the operation (resume a completed job, pause a cancelled one). */
  REPLAY_JOB_STATE: 'EVENTLANE_REPLAY_JOB_STATE',
  /** An admin API request carried no bearer token, or a wrong one. Nothing was read or changed. */
  UNAUTHORIZED: 'EVENTLANE_UNAUTHORIZED',
  /** What an admin API or CLI request names (an event, a stream, a route) does not exist. */
  NOT_FOUND: 'EVENTLANE_NOT_FOUND',
  /** The operations config (database URL, admin token, port, host) is missing or cannot be used. */
  INVALID_CONFIG: 'EVENTLANE_INVALID_CONFIG',
  /** An append was made to a stream that `closeStream` closed; closed streams take no more events. */
  STREAM_CLOSED: 'EVENTLANE_STREAM_CLOSED',
  /**
   * A personal field (declared in a contract's `personal`) could not be decrypted: its envelope is malformed or
   * fails authentication (tampered, or copied from another event). Not raised for a forgotten subject: that reads
   * as erased.
   */
  PERSONAL_DATA_UNREADABLE: 'EVENTLANE_PERSONAL_DATA_UNREADABLE',
  /** An event of a contract with personal fields lacks its subject, or the subject is not a usable string. */
  PERSONAL_SUBJECT: 'EVENTLANE_PERSONAL_SUBJECT',
  /** An archive run's bound cannot be used: a time in the future, a checkpoint past the readable head, not a bound. */
  ARCHIVE_BOUND: 'EVENTLANE_ARCHIVE_BOUND',
  /**
   * An archive run would delete events that a consumer, relay, projection version, replay job or parked event still
   * needs; `details.holders` names each one and where it stands.
   */
  ARCHIVE_HELD_BACK: 'EVENTLANE_ARCHIVE_HELD_BACK',
  /**
   * The archive directory cannot be used: not writable, holding another store's manifest, or not the directory this
   * store archives to.
   */
  ARCHIVE_TARGET: 'EVENTLANE_ARCHIVE_TARGET',
  /** An archive segment is missing, unreadable, or does not match its checksum or event count; `details.segment` names it. */
  ARCHIVE_SEGMENT: 'EVENTLANE_ARCHIVE_SEGMENT',
  /** A stream's earlier events live in the archive: read them with `archived: 'read'`. */
  STREAM_ARCHIVED: 'EVENTLANE_STREAM_ARCHIVED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];
