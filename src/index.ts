export { createEventStore } from './store/event-store.js';
export type { EventStore, EventStoreOptions, EventStoreTransaction, CallerTransaction } from './store/event-store.js';
export type { AppendOptions, AppendResult } from './store/append.js';
export type { ReadStreamOptions, ReadLogOptions, ReadLogResult, IterateLogOptions, LogHead } from './store/read.js';
export type { MigrationResult } from './store/migrate.js';
export { LOG_START, compareCheckpoints, parseCheckpoint, DEFAULT_SCHEMA } from './store/names.js';
export type { LogPosition } from './store/names.js';
export type { NewEvent, StoredEvent, EventMetadata, JsonValue, JsonObject } from './events/envelope.js';
export { uuidv7 } from './events/ids.js';
export { MAX_STREAM_NAME_LENGTH, MAX_EVENT_TYPE_LENGTH } from './events/names.js';
export {
  ErrorCodes,
  EventlaneError,
  ConcurrencyError,
  ExpectedVersionConflictError,
  InvalidEventError,
  InvalidStreamNameError,
  EventTooLargeError,
  DuplicateEventIdError,
  InvalidArgumentError,
  ConnectionError,
  MigrationError,
  StoreClosedError,
  InvalidCheckpointError,
  UnknownConsumerError,
  InvalidConsumerError,
  HandlerContractError,
  LeaseLostError,
  WorkerStateError,
  ParkedEventNotFoundError,
  isEventlaneError,
  isConcurrencyError,
} from './errors.js';
export type { ErrorCode, ExpectedVersion } from './errors.js';
export { defineProjection, defineReactor } from './consumers/define.js';
export type {
  ProjectionDefinition,
  ReactorDefinition,
  ConsumerDefinition,
  ProjectionContext,
  ReactorContext,
  ProjectionHandler,
  ReactorHandler,
} from './consumers/define.js';
export { createWorker } from './consumers/worker.js';
export type { Worker, ConsumerHealth, ConsumerCounters } from './consumers/worker.js';
export type { WorkerOptions } from './consumers/options.js';
export type { RetryOptions } from './consumers/backoff.js';
export type { BreakerOptions, BreakerState } from './consumers/breaker.js';
export { parkedEvents } from './consumers/admin.js';
export type { ParkedEvents, ParkedEvent, ListParkedOptions } from './consumers/admin.js';
export { idempotencyKey } from './consumers/effects.js';
export { partitionOf, DEFAULT_PARTITIONS } from './bus/partition.js';
export type { Bus, BusConnectOptions, BusMessage, SubscribeOptions, Delivery, Subscription } from './bus/types.js';
