/**
 * The worker's interface (ConsumerWorker; the public `Worker` adds the versioned projections' controls, see
 * src/projections/worker.ts), ConsumerHealth, ConsumerCounters, and what it keeps per consumer.
 */

import type { Registry } from 'prom-client';
import type { Breaker, BreakerState } from './breaker.js';
import type { ConsumerDefinition } from './define.js';
import type { ConsumerStats } from './stats.js';
import type { EventStore } from '../store/event-store.js';

export interface ConsumerHealth {
  consumer: string;
  kind: 'projection' | 'reactor';
  eventsBehind: number;
  secondsBehind: number;
  /** Events applied per second in this worker over the last 10 seconds. */
  throughput: number;
  /** Failed attempts / (applied + failed) in this worker over the last minute. */
  errorRate: number;
  applied: number;
  duplicates: number;
  failures: number;
  retries: number;
  parked: number;
  retrying: number;
  breaker: BreakerState;
  /**
   * Versioned projections only (defineProjection with `tables` or a `batch` handler): the version this worker
   * runs and where it stands. Their lag is counted from the version's checkpoint in the log; `parked` and
   * `retrying` count the failing events of that version.
   */
  projection?: VersionedProjectionHealth;
}

export interface VersionedProjectionHealth {
  version: number;
  /**
   * 'building' (a blue/green rebuild from history), 'live', 'stalled' while a failing event blocks it (retrying or
   * parked, see `failure`), 'retired' or 'dropped' when a newer version took over, 'unknown' before the worker
   * started.
   */
  status: 'building' | 'live' | 'retired' | 'dropped' | 'stalled' | 'unknown';
  mode: 'async' | 'inline';
  /** The version's checkpoint in the log (`txOrder:globalPosition`). */
  checkpoint: string;
  /** The event the version is stopped at, or null while it runs. */
  failure: ProjectionFailure | null;
}

/** The event a versioned projection is stopped at, as `worker.health()` and `progress()` report it. */
export interface ProjectionFailure {
  /** The row id in `parked_events` (consumer `<name>@v<version>`), as `parkedEvents(store)` lists it. */
  id: string;
  /** 'retrying': attempts go on with backoff; 'parked': attempts used up, waiting for an operator retry or skip. */
  status: 'retrying' | 'parked';
  eventId: string;
  eventType: string;
  stream: string;
  streamPosition: number;
  /** The handler's error of the last attempt. */
  error: string;
  attempts: number;
  /** When the next attempt is due; null when parked. */
  nextAttemptAt: Date | null;
}

export interface ConsumerWorker {
  readonly id: string;
  readonly group: string;
  /** The worker's prom-client registry (the one passed as `registry`, or its own). */
  readonly metrics: Registry;
  /**
   * The store to append through so that inline projections (`mode: 'inline'`) run in each append's transaction;
   * the store given to createWorker when the worker runs none.
   */
  readonly store: EventStore;
  /**
   * Registers and starts the versioned projections (creating their tables), joins the group, takes its share of
   * the partitions and starts processing.
   */
  start(): Promise<void>;
  /**
   * Finishes in-flight work, commits, releases its leases and leaves the group. Idempotent. Waits at most
   * `stopTimeoutMs` (default 10 s) for in-flight batches, then abandons them (see the option) and resolves anyway.
   */
  stop(): Promise<void>;
  /** Partitions this worker owns now. */
  partitions(): number[];
  /** Lag and health of every consumer (or one, by name). Reads the database (lag, parked counts). */
  health(consumer?: string): Promise<ConsumerHealth[]>;
  /** This worker's in-memory counters per consumer, without touching the database. */
  stats(): ConsumerCounters[];
}

export interface ConsumerCounters {
  consumer: string;
  applied: number;
  duplicates: number;
  failures: number;
  retries: number;
  /**
   * Bus mode: events read from the store by a stream's catch-up rather than taken from the bus (streams found
   * behind when partitions were taken and the bus did not bring, a full lane, a hand-over, a retry).
   */
  readFromStore: number;
  breaker: BreakerState;
}

/** One consumer of a worker, with the worker's counters and breaker for it. */
export interface ConsumerRuntime {
  definition: ConsumerDefinition;
  name: string;
  stats: ConsumerStats;
  breaker: Breaker;
}
