export { createEventStore } from './store/event-store.js';
export type { EventStore, EventStoreOptions, EventStoreTransaction, CallerTransaction } from './store/event-store.js';
export type { AppendOptions, AppendResult } from './store/append.js';
export type { ReadStreamOptions, ReadLogOptions, ReadLogResult, IterateLogOptions, LogHead } from './store/read.js';
export type { MigrationResult } from './store/migrate.js';
export { LOG_START, compareCheckpoints, parseCheckpoint, DEFAULT_SCHEMA } from './store/names.js';
export type { LogPosition } from './store/names.js';
export type { NewEvent, StoredEvent, EventMetadata, JsonValue, JsonObject } from './events/envelope.js';
export { uuidv7 } from './events/ids.js';
export { createRelay } from './relay/relay.js';
export type { Relay, RelayOptions, RelayStats } from './relay/relay.js';
export { getPartitionCount, setPartitionCount } from './store/settings.js';
export { partitionOf, DEFAULT_PARTITIONS } from './bus/partition.js';
export { embeddedBus } from './bus/embedded/index.js';
export type { EmbeddedBusOptions } from './bus/embedded/index.js';
export { toCloudEvent, encodeCloudEvent, decodeCloudEvent, CLOUDEVENTS_CONTENT_TYPE } from './bus/cloudevents.js';
export type { CloudEvent, EncodeOptions } from './bus/cloudevents.js';
export type { Bus, BusConnectOptions, BusMessage, SubscribeOptions, Delivery, Subscription } from './bus/types.js';
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
  BusError,
  TimeoutError,
  isEventlaneError,
  isConcurrencyError,
} from './errors.js';
export type { ErrorCode, ExpectedVersion } from './errors.js';
