/** The worker's public interface (Worker, ConsumerHealth, ConsumerCounters) and what it keeps per consumer. */

import type { Registry } from 'prom-client';
import type { Breaker, BreakerState } from './breaker.js';
import type { ConsumerDefinition } from './define.js';
import type { ConsumerStats } from './stats.js';

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
}

export interface Worker {
  readonly id: string;
  readonly group: string;
  /** The worker's prom-client registry (the one passed as `registry`, or its own). */
  readonly metrics: Registry;
  /** Joins the group, takes its share of the partitions and starts processing. */
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
