export { createEventStore } from './store/event-store.js';
export type {
  EventStore,
  EventStoreTransaction,
  CallerTransaction,
  TransactionConnection,
} from './store/event-store.js';
export type { EventStoreOptions } from './store/options.js';
export type { AppendOptions, AppendResult } from './store/append.js';
export type {
  CommandContext,
  CommandTransaction,
  Decide,
  HandleOptions,
  HandleResult,
} from './store/handle.js';
export type { SnapshotOptions } from './store/snapshots.js';
export type { QueryOptions } from './store/drivers/driver.js';
export { createStateCache, StateCache } from './store/state-cache.js';
export type { StateCacheOptions, CachedState } from './store/state-cache.js';
export type {
  ReadStreamOptions,
  ReadLogOptions,
  ReadLogResult,
  IterateLogOptions,
  LogHead,
} from './store/read.js';
export type { MigrationResult } from './store/migrate.js';
export type { StoreHealth } from './store/health.js';
export { LOG_START, compareCheckpoints, parseCheckpoint, DEFAULT_SCHEMA } from './store/names.js';
export type { LogPosition } from './store/names.js';
export type { NewEvent, StoredEvent, EventMetadata, JsonValue, JsonObject } from './events/envelope.js';
export { uuidv7 } from './events/ids.js';
export { createRelay } from './relay/relay.js';
export type { Relay, RelayOptions, RelayStats } from './relay/relay.js';
export { relayParking } from './relay/parking-admin.js';
export type { RelayParking, RelayParkedEvent, ListRelayParkedOptions } from './relay/parking-admin.js';
export { maxEventBytesFor, cloudEventEnvelopeBytes } from './bus/limits.js';
export { getPartitionCount, setPartitionCount } from './store/settings.js';
export { partitionOf, DEFAULT_PARTITIONS } from './bus/partition.js';
export { embeddedBus } from './bus/embedded/index.js';
export type { EmbeddedBusOptions } from './bus/embedded/index.js';
export {
  toCloudEvent,
  encodeCloudEvent,
  decodeCloudEvent,
  CLOUDEVENTS_CONTENT_TYPE,
} from './bus/cloudevents.js';
export type { CloudEvent, EncodeOptions } from './bus/cloudevents.js';
export type { BusIntakeOptions, BusRejection, BusRejectHandler } from './bus/intake.js';
export type {
  Bus,
  BusConnectOptions,
  BusMessage,
  SubscribeOptions,
  Delivery,
  Subscription,
} from './bus/types.js';
export { MAX_STREAM_NAME_LENGTH, MAX_EVENT_TYPE_LENGTH } from './events/names.js';
export { MAX_JSON_DEPTH } from './events/json.js';
export { DEFAULT_READ_STREAM_LIMIT, MAX_READ_STREAM_LIMIT, MAX_READ_LOG_LIMIT } from './store/read.js';
export { MAX_EVENTS_PER_APPEND } from './store/append.js';
export { parseTraceparent } from './tracing/trace-context.js';
export type { TraceParent } from './tracing/trace-context.js';
export {
  ErrorCodes,
  EventlaneError,
  ConcurrencyError,
  ExpectedVersionConflictError,
  InvalidEventError,
  InvalidStreamNameError,
  InvalidTraceContextError,
  EventTooLargeError,
  AppendTooLargeError,
  DuplicateEventIdError,
  InvalidArgumentError,
  ConnectionError,
  StatementTimeoutError,
  MigrationError,
  StoreClosedError,
  InvalidCheckpointError,
  SchemaValidationError,
  UndeclaredEventError,
  InvalidContractError,
  UpcastError,
  UnknownConsumerError,
  InvalidConsumerError,
  HandlerContractError,
  FailureNotRecordedError,
  LeaseLostError,
  DeliveryRejectedError,
  WorkerStateError,
  ParkedEventNotFoundError,
  BusError,
  InvalidBusMessageError,
  MessageTooLargeError,
  RelayParkedNotFoundError,
  TimeoutError,
  DuplicateProjectionError,
  ProjectionVersionError,
  ProjectionTableClashError,
  ReplayRangeError,
  ReplayModeError,
  ReplayPreviewRequiredError,
  ReplayPreviewMismatchError,
  ReplayJobNotFoundError,
  ReplayJobStateError,
  ArchiveBoundError,
  ArchiveHeldBackError,
  ArchiveTargetError,
  ArchiveSegmentError,
  StreamArchivedError,
  UnauthorizedError,
  NotFoundError,
  InvalidConfigError,
  CommandConflictError,
  StreamClosedError,
  PersonalDataUnreadableError,
  PersonalSubjectError,
  isEventlaneError,
  isConcurrencyError,
} from './errors.js';
export type {
  BusRejectReason,
  DeliveryRejectReason,
  ErrorCode,
  ExpectedVersion,
  SchemaIssue,
} from './errors.js';
export { defineEvent, isEventContract } from './contracts/define-event.js';
export { createContractRegistry } from './contracts/registry.js';
export type {
  ContractRegistry,
  ContractRegistryOptions,
  UndeclaredEventsPolicy,
} from './contracts/registry.js';
export type {
  AnyEventContract,
  CompatibilityWindow,
  ConsumerLike,
  CreateOptions,
  CurrentVersion,
  DefineEventOptions,
  PersonalOption,
  PersonalFields,
  Deprecation,
  EventContract,
  EventData,
  EventOf,
  EventsOf,
  NewEventsOf,
  TypedHandlers,
  Upcasters,
  VersionSchemas,
} from './contracts/types.js';
export { snapshotContracts, writeSnapshot, readSnapshot } from './contracts/snapshot.js';
export type { Snapshot, ContractSnapshot, JsonSchema } from './contracts/snapshot.js';
export { checkCompatibility, formatReport, COMPATIBILITY_RULES } from './contracts/compatibility.js';
export type {
  CheckOptions,
  CompatibilityReport,
  CompatibilityRule,
  Finding,
  Waiver,
} from './contracts/compatibility.js';
export { renderMarkdown, renderAsyncApi, consumersByType } from './contracts/docs.js';
export type { CatalogOptions, ConsumerRef } from './contracts/docs.js';
export { defineConfig } from './cli/config.js';
export type { EventlaneConfig } from './cli/config.js';
export { defineProjection, defineReactor } from './consumers/define.js';
export type {
  ProjectionDefinition,
  ReactorDefinition,
  ConsumerDefinition,
  ProjectionContext,
  ReactorContext,
  ProjectionHandler,
  ProjectionBatchHandler,
  ReactorHandler,
} from './consumers/define.js';
export { createProjections } from './projections/runner.js';
export type {
  Projections,
  ProjectionsOptions,
  ProjectionProgress,
  ProjectionFailure,
} from './projections/runner.js';
export type { DriftReport, DriftTableReport, DriftDifference } from './projections/drift.js';
export { createWorker } from './projections/worker.js';
export type { Worker, WorkerProjections } from './projections/worker.js';
export type {
  ConsumerHealth,
  ConsumerCounters,
  VersionedProjectionHealth,
} from './consumers/worker-types.js';
export type { WorkerOptions, VersionedProjectionOptions } from './consumers/options.js';
export type { RetryOptions } from './consumers/backoff.js';
export type { BreakerOptions, BreakerState } from './consumers/breaker.js';
export { parkedEvents } from './consumers/admin.js';
export type { ParkedEvents, ParkedEvent, ListParkedOptions } from './consumers/admin.js';
export { idempotencyKey } from './consumers/effects.js';
export { createReplay } from './replay/replay.js';
export type { Replay, ReplayEngineOptions } from './replay/replay.js';
export type {
  ReplayKind,
  ReplayState,
  RangeBound,
  ReplayOptions,
  StartOptions,
  ReplayPlan,
  ReplayJob,
  ReplayReport,
  EffectSummary,
} from './replay/types.js';
export { TokenBucket, AdaptiveRate } from './replay/throttle.js';
export { archive } from './retention/archive.js';
export type { ArchiveOptions, ArchiveProgress, ArchiveResult } from './retention/archive.js';
export type { ArchiveHolder } from './errors.js';
export type { Clock, AdaptiveLimits, Observation } from './replay/throttle.js';
export { listClosedStreams, streamClosedAt, STREAM_CLOSED_TYPE, CLOSES_STREAM } from './retention/closing.js';
export type { ClosedStream, ListClosedStreamsOptions } from './retention/closing.js';
export type { CloseStreamOptions, CloseStreamResult } from './store/close-stream.js';
export { ERASED_MARK, PERSONAL_MARK } from './store/personal-data.js';
