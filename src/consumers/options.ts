import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import { checkDuration, checkPositiveInt } from '../bus/options.js';
import { checkPartitionCount, DEFAULT_PARTITIONS } from '../bus/partition.js';
import { MAX_READ_LOG_LIMIT } from '../store/read.js';
import type { Bus } from '../bus/types.js';
import { describeValue, InvalidArgumentError, InvalidConsumerError, safeCallback } from '../errors.js';
import { DEFAULT_RETRY, type RetryOptions } from './backoff.js';
import { DEFAULT_BREAKER, type BreakerOptions } from './breaker.js';
import { checkConsumerDefinition, type ConsumerDefinition } from './define.js';

export interface WorkerOptions {
  /** Where events come from: `'log'` (the store's log, same database) or a Bus the relay publishes to. */
  from: 'log' | Bus;
  /** The projections and reactors this worker runs. Names must be unique. */
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
  /** Called with errors of the background loops (database unreachable, lease lost); they are retried. */
  onError?: (error: Error) => void;
}

export interface ResolvedWorkerOptions {
  from: 'log' | Bus;
  consumers: readonly ConsumerDefinition[];
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
]);

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
  const consumers = (o.consumers as readonly unknown[]).map((value, i) => {
    const c = checkConsumerDefinition(value, `createWorker: consumers[${i}]`);
    if (c.kind === 'projection' && (Object.keys(c.tables).length > 0 || c.batch !== undefined)) {
      throw new InvalidConsumerError(
        `Projection ${JSON.stringify(c.name)} declares tables or a batch handler: it is a versioned read model, run it ` +
          'with createProjections (blue/green rebuilds need its version registry), not createWorker.',
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
  const partitions = o.partitions === undefined ? DEFAULT_PARTITIONS : checkPartitionCount(o.partitions);
  const group = o.group ?? [...names].sort().join('+');
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
