import { safeCallback } from '../errors.js';
import type { Registry } from 'prom-client';
import type { Bus } from '../bus/types.js';
import { checkDuration, checkPositiveInt } from '../bus/options.js';
import { MAX_READ_LOG_LIMIT } from '../store/read.js';

export interface RelayOptions {
  /** Where to publish. @defaultValue a new `embeddedBus()`, closed by `stop()` */
  bus?: Bus;
  /** The relay's name: its checkpoint and its lease. One relay per name is active at a time. @defaultValue 'default' */
  name?: string;
  /** Events read and published per round. Larger batches raise throughput and the size of a redelivery after a crash. @defaultValue 1000 */
  batchSize?: number;
  /**
   * How often to look for new events when no commit notification arrives (LISTEN/NOTIFY is the fast path; this
   * covers a lost listening connection). @defaultValue 1000
   */
  pollIntervalMs?: number;
  /**
   * How long the lease lasts without renewal. A standby takes over at most `leaseMs + standbyPollMs` after the
   * active relay dies (even by kill -9); shorter means faster takeover and more renewals. @defaultValue 3000
   */
  leaseMs?: number;
  /** How often a standby tries to take the lease. @defaultValue 500 */
  standbyPollMs?: number;
  /**
   * Batches handed to the bus before the oldest must be acknowledged. 2 overlaps one batch's acknowledgement with
   * the next batch's sending; a crash or broker error republishes up to this many batches. @defaultValue 2
   */
  maxBatchesInFlight?: number;
  /** A publish the broker has not acknowledged by then counts as failed and is retried. @defaultValue 10000 */
  publishTimeoutMs?: number;
  /** First delay after a failure; doubles per failure, with full jitter, up to `maxBackoffMs`. @defaultValue 100 */
  initialBackoffMs?: number;
  /** @defaultValue 10000 */
  maxBackoffMs?: number;
  /** CloudEvents `source` of the published events: a URI reference naming the producer. @defaultValue '/eventlane' */
  source?: string;
  /** prom-client registry for the relay's metrics; `null` for none. @defaultValue prom-client's default registry */
  registry?: Registry | null;
  /**
   * How often, while some stream is held behind a parked event, the relay looks for an operator's retry or skip
   * (relayParking(store)). Each look pauses publishing until the batches in flight are acknowledged.
   * @defaultValue 1000
   */
  parkedPollMs?: number;
  /** Told about every failed round (the relay retries on its own). */
  onError?: (error: unknown) => void;
}

export interface RelayStats {
  name: string;
  /** True while this process holds the lease and publishes. */
  leader: boolean;
  /** The stored checkpoint (commit order): everything at or before it was acknowledged by the broker. */
  checkpoint: string;
  /** Committed events after the checkpoint. */
  backlogEvents: number;
  /** Age of the oldest of them in milliseconds; 0 when caught up. */
  oldestUnpublishedAgeMs: number;
  /** Events this process published since start. */
  published: number;
  /** Events per second over the last 10 seconds. */
  publishRatePerSec: number;
  /** Failed rounds since start. */
  errors: number;
  lastError: string | undefined;
  /**
   * Events the bus refused for good (too large), waiting for an operator's retry or skip (relayParking(store)).
   * Their checkpoint is passed: they are not in `backlogEvents`.
   */
  parkedEvents: number;
  /** Later events of those streams, held back (in order) until their parked event is retried or skipped. */
  heldEvents: number;
}

export interface Relay {
  readonly name: string;
  readonly bus: Bus;
  /** Connects the bus (typed error if the broker is unreachable) and starts publishing, or standing by. */
  start(): Promise<void>;
  /** Stops publishing, releases the lease so a standby takes over at once, and closes a bus the relay created. */
  stop(): Promise<void>;
  isLeader(): boolean;
  stats(): Promise<RelayStats>;
  /** Resolves when everything committed before the call has been published (for tests and graceful shutdown). */
  caughtUp(timeoutMs?: number): Promise<void>;
}

export interface Settings {
  batchSize: number;
  pollIntervalMs: number;
  leaseMs: number;
  standbyPollMs: number;
  publishTimeoutMs: number;
  maxBatchesInFlight: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  source: string;
  registry: Registry | null | undefined;
  parkedPollMs: number;
  onError: ((error: unknown) => void) | undefined;
}

export const RELAY_NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

/** Checks the options and fills in the defaults. */
export function relaySettings(options: RelayOptions): Settings {
  return {
    batchSize: checkPositiveInt(options.batchSize, 'batchSize', 1000, MAX_READ_LOG_LIMIT),
    pollIntervalMs: checkDuration(options.pollIntervalMs, 'pollIntervalMs', 1000),
    leaseMs: checkDuration(options.leaseMs, 'leaseMs', 3000),
    standbyPollMs: checkDuration(options.standbyPollMs, 'standbyPollMs', 500),
    publishTimeoutMs: checkDuration(options.publishTimeoutMs, 'publishTimeoutMs', 10_000),
    maxBatchesInFlight: checkPositiveInt(options.maxBatchesInFlight, 'maxBatchesInFlight', 2),
    initialBackoffMs: checkDuration(options.initialBackoffMs, 'initialBackoffMs', 100),
    maxBackoffMs: checkDuration(options.maxBackoffMs, 'maxBackoffMs', 10_000),
    parkedPollMs: checkDuration(options.parkedPollMs, 'parkedPollMs', 1000),
    source: options.source ?? '/eventlane',
    registry: options.registry,
    onError: options.onError === undefined ? undefined : safeCallback(options.onError),
  };
}
