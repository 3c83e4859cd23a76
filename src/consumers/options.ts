import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import { checkDuration, checkPositiveInt } from '../bus/options.js';
import { checkPartitionCount, DEFAULT_PARTITIONS } from '../bus/partition.js';
import { MAX_READ_LOG_LIMIT } from '../store/read.js';
import { checkSchemaName } from '../store/names.js';
import type { Bus } from '../bus/types.js';
import { describeValue, InvalidArgumentError, InvalidConsumerError, safeCallback } from '../errors.js';
import { DEFAULT_RETRY, type RetryOptions } from './backoff.js';
import { DEFAULT_BREAKER, type BreakerOptions } from './breaker.js';
import { checkConsumerDefinition, type ConsumerDefinition, type ProjectionDefinition } from './define.js';

export interface WorkerOptions {
  /** Where events come from: `'log'` (the store's log, same database) or a Bus the relay publishes to. */
  from: 'log' | Bus;
  /**
   * The projections and reactors this worker runs, of every kind: reactors, handler-only projections (run through
   * partitions and lanes) and versioned projections (defineProjection with `tables` or a `batch` handler, run from
   * the log in commit order with blue/green rebuilds). Names must be unique.
   */
  consumers: readonly ConsumerDefinition[];
  /** The store's partition count; every worker of a group must agree. @defaultValue 16 */
  partitions?: number;
  /**
   * Workers with the same group share the partitions through leases. @defaultValue the consumer names, sorted and
   * joined with '+'
   */
  group?: string;
  /** This worker's identity in the lease table. @defaultValue a random UUID */
  workerId?: string;
  /** Most events one lane handles in one transaction. Larger batches mean fewer commits. @defaultValue 500 */
  batchSize?: number;
  /**
   * Events queued per lane. Log mode: the log reader waits (or a paused lane drops and rereads later). Bus mode: a
   * full lane acknowledges further deliveries and reads their streams from the store instead of asking for a
   * redelivery (which would count against the broker's delivery limit); keep it above the bus's `maxInFlight`
   * so that this stays the exception.
   * @defaultValue 5000
   */
  maxQueuedPerLane?: number;
  /** Events fetched per log read. @defaultValue 2000 */
  readBatchSize?: number;
  /**
   * Longest pause between log reads when the log is idle. The pause starts at 1 ms after the last event and doubles
   * up to this, so a busy log is read back to back and an idle one costs a cheap query per interval. @defaultValue 50
   */
  pollIntervalMs?: number;
  /** A lease not renewed for this long is taken over by another worker. @defaultValue 10000 */
  leaseTtlMs?: number;
  /** How often leases are renewed and rebalanced; at most a third of `leaseTtlMs`. @defaultValue 2000 */
  heartbeatMs?: number;
  /** How often operator changes to parked events (retry, skip) are picked up. @defaultValue 1000 */
  parkedPollMs?: number;
  /**
   * The longest `stop()` waits for in-flight batches (a handler calling a slow service, a lane waiting on a lock).
   * After it, `stop()` resolves anyway: lanes still running are abandoned, their partitions are not released (their
   * leases expire after `leaseTtlMs`), and `onError` is told which ones. Safe by the invariants: an abandoned
   * projection batch never commits once another worker holds the lease (the fence), it rolls back when the process
   * exits; an abandoned reactor event is applied again by the next owner and its journaled effects are not repeated.
   * Longer waits less often leave work to be redone; shorter ones let a deploy or a SIGTERM finish sooner.
   * @defaultValue 10000
   */
  stopTimeoutMs?: number;
  retry?: Partial<RetryOptions>;
  breaker?: Partial<BreakerOptions>;
  /** prom-client registry for the worker's metrics. @defaultValue a new Registry per worker (`worker.metrics`) */
  registry?: Registry;
  /**
   * Called with errors of the background loops (database unreachable, lease lost; they are retried) and with each
   * failed attempt of an event of a versioned projection (the handler's error).
   */
  onError?: (error: Error) => void;
  /** How versioned projections (with `tables` or a `batch` handler) run; ignored when there are none. */
  projections?: VersionedProjectionOptions;
}

/**
 * Options of the versioned projections a worker runs. They always read the log in commit order, one page per
 * transaction across all streams, also when the worker takes its other consumers from a bus: a versioned read
 * model is rebuilt from history, so the log is its source of truth. Retries, the breaker, `pollIntervalMs`,
 * `parkedPollMs` and `onError` are the worker's.
 */
export interface VersionedProjectionOptions {
  /** The PostgreSQL schema of the read-model tables and their stable views. @defaultValue 'public' */
  schema?: string;
  /**
   * Events read per page and applied in one transaction (one batch-handler call). Larger pages mean fewer round
   * trips and commits during a rebuild; the bench chose 5,000. At most 10,000. @defaultValue 5000
   */
  pageSize?: number;
  /** A building version switches live once a page brings fewer events than this. @defaultValue 1000 */
  switchLag?: number;
  /**
   * How long a retired version's tables are kept after the switch before they are dropped, in ms.
   * @defaultValue 600000 (10 min)
   */
  graceMs?: number;
  /** Throttle: at most this many events per second per projection (rebuilds too). @defaultValue no limit */
  maxEventsPerSecond?: number;
}

export interface ResolvedWorkerOptions {
  from: 'log' | Bus;
  /** Reactors and handler-only projections: the consumers run through partitions and lanes. */
  consumers: readonly ConsumerDefinition[];
  /** Versioned projections (tables or a batch handler), run by the projection engine from the log. */
  versioned: readonly ProjectionDefinition[];
  projections: VersionedProjectionOptions;
  partitions: number;
  group: string;
  workerId: string;
  batchSize: number;
  maxQueuedPerLane: number;
  readBatchSize: number;
  pollIntervalMs: number;
  leaseTtlMs: number;
  heartbeatMs: number;
  parkedPollMs: number;
  stopTimeoutMs: number;
  retry: RetryOptions;
  breaker: BreakerOptions;
  registry: Registry | undefined;
  onError: (error: Error) => void;
}

const KEYS = new Set([
  'from',
  'consumers',
  'partitions',
  'group',
  'workerId',
  'batchSize',
  'maxQueuedPerLane',
  'readBatchSize',
  'pollIntervalMs',
  'leaseTtlMs',
  'heartbeatMs',
  'parkedPollMs',
  'stopTimeoutMs',
  'retry',
  'breaker',
  'registry',
  'onError',
  'projections',
]);

const PROJECTION_KEYS = {
  schema: 'public',
  pageSize: 5000,
  switchLag: 1000,
  graceMs: 600_000,
  maxEventsPerSecond: Infinity,
};

function positiveInt(name: string, value: unknown, fallback: number, max?: number): number {
  return checkPositiveInt(value, name, fallback, max);
}

function subOptions<T extends object>(name: string, value: unknown, defaults: T): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) {
    throw new InvalidArgumentError(
      `${name} must be an object, got ${value === null ? 'null' : typeof value}.`,
    );
  }
  for (const key of Object.keys(value)) {
    if (!(key in defaults)) {
      throw new InvalidArgumentError(
        `Unknown option ${name}.${key}. Known: ${Object.keys(defaults).join(', ')}.`,
        { option: `${name}.${key}` },
      );
    }
  }
  return value as Record<string, unknown>;
}

function isBus(value: unknown): value is Bus {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Bus).subscribe === 'function' &&
    typeof (value as Bus).kind === 'string'
  );
}

export function resolveWorkerOptions(options: unknown): ResolvedWorkerOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('createWorker takes (store, { from, consumers, … }).');
  }
  const o = options as WorkerOptions;
  for (const key of Object.keys(o)) {
    if (!KEYS.has(key)) {
      throw new InvalidArgumentError(
        `Unknown option ${JSON.stringify(key)} for createWorker. Known options: ${[...KEYS].join(', ')}.`,
        {
          option: key,
        },
      );
    }
  }
  if (o.from !== 'log' && !isBus(o.from)) {
    throw new InvalidArgumentError(
      `from must be 'log' or a Bus (an object with kind and subscribe), got ${typeof o.from === 'string' ? JSON.stringify(o.from) : typeof o.from}.`,
      { from: typeof o.from },
    );
  }
  if (!Array.isArray(o.consumers) || o.consumers.length === 0) {
    throw new InvalidArgumentError(
      'consumers must be a non-empty array of defineProjection/defineReactor results.',
    );
  }
  const names = new Set<string>();
  // Checked again here, as define* checks them: a definition may be built by hand or copied and changed.
  const all = (o.consumers as readonly unknown[]).map((value, i) => {
    const where = `createWorker: consumers[${i}]`;
    const c = checkConsumerDefinition(value, where);
    if (isVersioned(c) && Object.keys(c.tables).length === 0) {
      // A batch handler writes somewhere: a versioned read model declares the tables it writes, so that a rebuild
      // can build the next version beside the live one.
      throw new InvalidConsumerError(
        `${where} is the projection ${JSON.stringify(c.name)}, which has a batch handler but declares no tables: a ` +
          "batch handler belongs to a versioned read model. Give it tables ({ table: 'create table :TABLE: (…)' }) " +
          'and write through context.tables, or drop `batch` and run it with handlers only.',
        { name: c.name },
      );
    }
    if (names.has(c.name)) {
      throw new InvalidConsumerError(
        `Two consumers are named ${JSON.stringify(c.name)}; names key checkpoints, so they must be unique.`,
        { name: c.name },
      );
    }
    names.add(c.name);
    return c;
  });
  const consumers = all.filter((c) => !isVersioned(c));
  const versioned = all.filter(isVersioned);
  const partitions = o.partitions === undefined ? DEFAULT_PARTITIONS : checkPartitionCount(o.partitions);
  // Versioned projections take no partition leases: the group is that of the consumers that do.
  const group =
    o.group ??
    (consumers.length > 0 ? consumers : versioned)
      .map((c) => c.name)
      .sort()
      .join('+');
  if (typeof group !== 'string' || group.length === 0 || group.length > 200) {
    throw new InvalidArgumentError(
      `group must be a non-empty string of at most 200 characters, got ${describeValue(group)}.`,
    );
  }
  const workerId = o.workerId ?? randomUUID();
  if (typeof workerId !== 'string' || workerId.length === 0 || workerId.length > 200) {
    throw new InvalidArgumentError(
      `workerId must be a non-empty string of at most 200 characters, got ${describeValue(workerId)}.`,
    );
  }
  const leaseTtlMs = checkDuration(o.leaseTtlMs, 'leaseTtlMs', 10_000, 100);
  const heartbeatMs = checkDuration(
    o.heartbeatMs,
    'heartbeatMs',
    Math.min(2_000, Math.floor(leaseTtlMs / 3)),
    10,
  );
  if (heartbeatMs * 3 > leaseTtlMs) {
    throw new InvalidArgumentError(
      `heartbeatMs (${heartbeatMs}) must be at most a third of leaseTtlMs (${leaseTtlMs}), so a healthy worker never loses its leases.`,
    );
  }
  const retry = resolveRetry(o.retry);
  const breaker = resolveBreaker(o.breaker);
  if (o.onError !== undefined && typeof o.onError !== 'function') {
    throw new InvalidArgumentError('onError must be a function (error) => void.');
  }
  return {
    from: o.from,
    consumers,
    versioned,
    projections: resolveProjectionOptions(o.projections),
    partitions,
    group,
    workerId,
    batchSize: positiveInt('batchSize', o.batchSize, 500, MAX_READ_LOG_LIMIT),
    maxQueuedPerLane: positiveInt('maxQueuedPerLane', o.maxQueuedPerLane, 5000),
    readBatchSize: positiveInt('readBatchSize', o.readBatchSize, 2000, MAX_READ_LOG_LIMIT),
    pollIntervalMs: checkDuration(o.pollIntervalMs, 'pollIntervalMs', 50),
    leaseTtlMs,
    heartbeatMs,
    parkedPollMs: checkDuration(o.parkedPollMs, 'parkedPollMs', 1000, 10),
    stopTimeoutMs: checkDuration(o.stopTimeoutMs, 'stopTimeoutMs', 10_000),
    retry,
    breaker,
    registry: o.registry,
    onError: safeCallback(o.onError),
  };
}

/**
 * A versioned projection: one with tables or a batch handler. It is run by the projection engine (blue/green
 * rebuilds, one checkpoint across all streams), not through partitions and lanes.
 */
export function isVersioned(c: ConsumerDefinition): c is ProjectionDefinition {
  return c.kind === 'projection' && (Object.keys(c.tables).length > 0 || c.batch !== undefined);
}

function resolveProjectionOptions(value: unknown): VersionedProjectionOptions {
  const p = subOptions('projections', value, PROJECTION_KEYS);
  const out: VersionedProjectionOptions = {};
  if (p.schema !== undefined) out.schema = checkSchemaName(p.schema);
  if (p.pageSize !== undefined) {
    out.pageSize = positiveInt('projections.pageSize', p.pageSize, 5000, MAX_READ_LOG_LIMIT);
  }
  if (p.switchLag !== undefined) out.switchLag = positiveNumber('projections.switchLag', p.switchLag);
  if (p.graceMs !== undefined) out.graceMs = checkDuration(p.graceMs, 'projections.graceMs', 600_000, 0);
  if (p.maxEventsPerSecond !== undefined) {
    out.maxEventsPerSecond = positiveNumber('projections.maxEventsPerSecond', p.maxEventsPerSecond);
  }
  return out;
}

function positiveNumber(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new InvalidArgumentError(`${name} must be a number > 0, got ${describeValue(value)}.`, {
      option: name,
    });
  }
  return value;
}

/** Resolves and checks `retry` options (shared by createWorker and createProjections). */
export function resolveRetry(value: unknown): RetryOptions {
  const r = subOptions('retry', value, DEFAULT_RETRY);
  const retry: RetryOptions = {
    maxAttempts: positiveInt('retry.maxAttempts', r.maxAttempts, DEFAULT_RETRY.maxAttempts),
    baseDelayMs: checkDuration(r.baseDelayMs, 'retry.baseDelayMs', DEFAULT_RETRY.baseDelayMs, 0),
    maxDelayMs: checkDuration(r.maxDelayMs, 'retry.maxDelayMs', DEFAULT_RETRY.maxDelayMs, 0),
    jitter: DEFAULT_RETRY.jitter,
  };
  if (r.jitter !== undefined) {
    if (typeof r.jitter !== 'number' || !(r.jitter >= 0 && r.jitter <= 1)) {
      throw new InvalidArgumentError(
        `retry.jitter must be a number from 0 to 1, got ${describeValue(r.jitter)}.`,
      );
    }
    retry.jitter = r.jitter;
  }
  return retry;
}

/** Resolves and checks `breaker` options (shared by createWorker and createProjections). */
export function resolveBreaker(value: unknown): BreakerOptions {
  const b = subOptions('breaker', value, DEFAULT_BREAKER);
  const breaker: BreakerOptions = {
    threshold: positiveInt('breaker.threshold', b.threshold, DEFAULT_BREAKER.threshold),
    windowMs: checkDuration(b.windowMs, 'breaker.windowMs', DEFAULT_BREAKER.windowMs),
    coolDownMs: checkDuration(b.coolDownMs, 'breaker.coolDownMs', DEFAULT_BREAKER.coolDownMs),
  };
  return breaker;
}
