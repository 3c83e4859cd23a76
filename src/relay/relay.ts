import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import { embeddedBus } from '../bus/embedded/index.js';
import { checkDuration, checkPositiveInt } from '../bus/options.js';
import { checkPartitionCount, partitionOf } from '../bus/partition.js';
import type { Bus, BusMessage } from '../bus/types.js';
import { BusError, describeValue, ErrorCodes, InvalidArgumentError, TimeoutError } from '../errors.js';
import type { EventStore } from '../store/event-store.js';
import { LOG_START, quoteIdent } from '../store/names.js';
import { MAX_READ_LOG_LIMIT } from '../store/read.js';
import { getPartitionCount } from '../store/settings.js';
import {
  readRelayCheckpoint,
  releaseLease,
  renewLease,
  saveCheckpoint,
  tryAcquireLease,
  type Lease,
} from './lease.js';
import { relayMetrics, type RelayMetrics, type RelayMetricsSource } from './metrics.js';
import { readLogWire } from './read-wire.js';

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

/**
 * After a commit notification whose event is not readable yet, the relay re-reads every 1, 2, 4 … 50 ms for this
 * long (a busy cluster can hold the oldest transaction open for seconds), then falls back to `pollIntervalMs`.
 */
const NOTIFIED_RETRY_WINDOW_MS = 5000;

const NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

/**
 * The outbox publisher: reads the log in commit order after its checkpoint and publishes it to a bus, moving the
 * checkpoint only after the broker acknowledged. At least once: a crash between the ack and the checkpoint write
 * republishes that batch (NATS drops the repeat by message id).
 *
 * @example
 * const relay = createRelay(store, { bus: natsBus({ servers: 'nats://127.0.0.1:4222' }) });
 * await relay.start();
 */
export function createRelay(store: EventStore, options: RelayOptions = {}): Relay {
  const name = options.name ?? 'default';
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidArgumentError(
      `Relay name ${describeValue(name)} is not usable: use 1–100 letters, digits, '_', '.', ':' or '-'.`,
      { name },
    );
  }
  const bus = options.bus ?? embeddedBus();
  if (typeof bus !== 'object' || bus === null || typeof bus.publish !== 'function') {
    throw new InvalidArgumentError('bus must be a Bus, e.g. natsBus({ servers }) from eventlane/nats.');
  }
  return new RelayImpl(store, bus, options.bus === undefined, name, {
    batchSize: checkPositiveInt(options.batchSize, 'batchSize', 1000, MAX_READ_LOG_LIMIT),
    pollIntervalMs: checkDuration(options.pollIntervalMs, 'pollIntervalMs', 1000),
    leaseMs: checkDuration(options.leaseMs, 'leaseMs', 3000),
    standbyPollMs: checkDuration(options.standbyPollMs, 'standbyPollMs', 500),
    publishTimeoutMs: checkDuration(options.publishTimeoutMs, 'publishTimeoutMs', 10_000),
    maxBatchesInFlight: checkPositiveInt(options.maxBatchesInFlight, 'maxBatchesInFlight', 2),
    initialBackoffMs: checkDuration(options.initialBackoffMs, 'initialBackoffMs', 100),
    maxBackoffMs: checkDuration(options.maxBackoffMs, 'maxBackoffMs', 10_000),
    source: options.source ?? '/eventlane',
    registry: options.registry,
    onError: options.onError,
  });
}

interface Settings {
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
  onError: ((error: unknown) => void) | undefined;
}

interface Page {
  messages: BusMessage[];
  checkpoint: string;
}

interface Flight {
  checkpoint: string;
  count: number;
  done: Promise<void>;
  started: number;
}

/** Thrown inside the loop when the fencing token moved on: not an error, a hand-over. */
class LeaseLost extends Error {}

class RelayImpl implements Relay {
  readonly #q: string;
  readonly #owner = randomUUID();
  readonly #metrics: RelayMetrics | undefined;
  #partitions = 0;
  #lease: Lease | undefined;
  #checkpoint = LOG_START;
  #running = false;
  #loop: Promise<void> | undefined;
  #wakeOnCommit: (() => void) | undefined;
  #wakeOnStop: (() => void) | undefined;
  #woken = false;
  #lastNotifiedAt = -Infinity;
  #stopListening: (() => Promise<void>) | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #published = 0;
  #errors = 0;
  #lastError: string | undefined;
  #failures = 0;
  readonly #rate: { at: number; count: number }[] = [];
  readonly #metricsSource: RelayMetricsSource;

  constructor(
    readonly store: EventStore,
    readonly bus: Bus,
    readonly ownsBus: boolean,
    readonly name: string,
    readonly settings: Settings,
  ) {
    this.#q = quoteIdent(store.schema);
    this.#metrics = settings.registry === null ? undefined : relayMetrics(settings.registry);
    this.#metricsSource = {
      name,
      isLeader: () => this.isLeader(),
      backlog: () => this.#backlog(),
      oldestTransactionAge: () => store.health().then((h) => h.oldestTransactionAgeSeconds),
    };
  }

  isLeader(): boolean {
    return this.#lease !== undefined && performance.now() < this.#lease.deadline;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#partitions = checkPartitionCount(await getPartitionCount(this.store));
    await this.bus.connect({ partitions: this.#partitions });
    this.#running = true;
    try {
      this.#stopListening = await this.store.onCommit(() => this.#notify());
    } catch (error) {
      // Without notifications the relay still works by polling every pollIntervalMs.
      this.#fail(error);
    }
    this.#metrics?.sources.add(this.#metricsSource);
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#wakeOnStop?.();
    await this.#loop;
    this.#metrics?.sources.delete(this.#metricsSource);
    await this.#stopListening?.().catch(() => undefined);
    this.#stopListening = undefined;
    if (this.#lease) {
      await releaseLease(this.store.executor, this.#q, this.#lease).catch(() => undefined);
      this.#dropLease();
    }
    if (this.ownsBus) await this.bus.close();
  }

  #notify(): void {
    this.#woken = true;
    this.#lastNotifiedAt = performance.now();
    this.#wakeOnCommit?.();
  }

  /** Sleeps until `ms` passed or stop(); with `wakeOnCommit`, a commit notification ends it early too. */
  #sleep(ms: number, wakeOnCommit: boolean): Promise<void> {
    if (!this.#running) return Promise.resolve();
    if (wakeOnCommit && this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakeOnCommit = undefined;
        this.#wakeOnStop = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakeOnStop = done;
      // A backing-off relay or a standby ignores commits: a busy store must not cut a backoff short.
      if (wakeOnCommit) this.#wakeOnCommit = done;
    });
  }

  #fail(error: unknown): void {
    this.#errors++;
    this.#lastError = error instanceof Error ? error.message : String(error);
    this.#metrics?.errors.inc({ relay: this.name });
    this.settings.onError?.(error);
  }

  #backoffMs(): number {
    const { initialBackoffMs, maxBackoffMs } = this.settings;
    const cap = Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.min(this.#failures, 20));
    // "Full jitter": spreads the retries of many relays (and of a restarting broker's clients) over the window.
    return Math.max(1, Math.round(Math.random() * cap));
  }

  #dropLease(): void {
    this.#lease = undefined;
    if (this.#renewTimer) clearInterval(this.#renewTimer);
    this.#renewTimer = undefined;
  }

  #startRenewing(): void {
    const every = Math.max(50, Math.floor(this.settings.leaseMs / 3));
    this.#renewTimer = setInterval(() => {
      const lease = this.#lease;
      if (!lease) return;
      renewLease(this.store.executor, this.#q, lease, this.settings.leaseMs).then(
        (ok) => {
          if (!ok && this.#lease === lease) this.#dropLease();
        },
        (error: unknown) => this.#fail(error),
      );
    }, every);
    this.#renewTimer.unref();
  }

  /** Reads the next batch after `after` as bus messages (pre-encoded by PostgreSQL for broker buses). */
  async #read(after: string): Promise<Page> {
    const { batchSize, source } = this.settings;
    const P = this.#partitions;
    if (this.bus.kind === 'embedded') {
      const page = await this.store.readLog({ after, limit: batchSize });
      return {
        messages: page.events.map((event) => ({ event, partition: partitionOf(event.stream, P) })),
        checkpoint: page.checkpoint,
      };
    }
    const page = await readLogWire(this.store.executor, this.#q, after, batchSize, source);
    return {
      messages: page.events.map(({ event, payload }) => {
        const partition = partitionOf(event.stream, P);
        // elpartition is known only here (the hash is computed in JavaScript); splice it in front.
        return { event, partition, payload: `{"elpartition":${partition},${payload.slice(1)}` };
      }),
      checkpoint: page.checkpoint,
    };
  }

  async #run(): Promise<void> {
    const db = this.store.executor;
    const { batchSize, leaseMs, maxBatchesInFlight } = this.settings;
    /** Batches handed to the bus, oldest first; the checkpoint moves past each only after its acknowledgement. */
    const flights: Flight[] = [];
    /** Where the next read starts: after the last batch handed to the bus (ahead of the stored checkpoint). */
    let readFrom = this.#checkpoint;
    // Read-ahead: the next page is read while the broker acknowledges the current one.
    let ahead: { after: string; page: Promise<Page> } | undefined;
    let emptyRetryMs = 1;

    // Checkpoint writes run beside the publishing, coalesced: while one write is in flight, later acknowledgements
    // only move the value the next write will store. A commit costs a WAL flush (milliseconds on a busy disk);
    // waiting for it after every batch capped the embedded relay at a third of its speed here.
    let acked: { checkpoint: string; count: number } | undefined;
    let writing: Promise<void> | undefined;
    let leaseLost = false;
    let writeError: unknown;
    /** The newest checkpoint the broker acknowledged (written or not): where to resume after an error. */
    let latestAcked: string | undefined;
    const writeCheckpoint = (lease: Lease): void => {
      if (writing || !acked || leaseLost) return;
      const batch = acked;
      acked = undefined;
      writing = saveCheckpoint(db, this.#q, lease, leaseMs, batch.checkpoint, batch.count).then(
        (saved) => {
          writing = undefined;
          if (!saved) leaseLost = true;
          else if (this.#lease === lease) this.#checkpoint = batch.checkpoint;
          writeCheckpoint(lease);
        },
        (error: unknown) => {
          writing = undefined;
          writeError = error;
          // Keep what was acknowledged: a later write stores it (the newest checkpoint wins, counts add up).
          acked = acked ? { checkpoint: acked.checkpoint, count: acked.count + batch.count } : batch;
        },
      );
    };
    const settleOldest = async (lease: Lease): Promise<void> => {
      const flight = flights[0]!;
      await flight.done;
      flights.shift();
      this.#metrics?.batchSeconds.observe({ relay: this.name }, (performance.now() - flight.started) / 1000);
      acked = { checkpoint: flight.checkpoint, count: flight.count + (acked?.count ?? 0) };
      latestAcked = flight.checkpoint;
      this.#published += flight.count;
      this.#metrics?.published.inc({ relay: this.name }, flight.count);
      this.#rate.push({ at: Date.now(), count: flight.count });
      this.#failures = 0;
      writeCheckpoint(lease);
    };

    while (this.#running) {
      try {
        if (!this.#lease) {
          const got = await tryAcquireLease(db, this.#q, this.name, this.#owner, leaseMs);
          if (!got) {
            await this.#sleep(this.settings.standbyPollMs, false);
            continue;
          }
          // Anything still in flight belongs to a lease we lost: let it settle, then start from the stored checkpoint.
          await Promise.allSettled(flights.map((f) => f.done));
          flights.length = 0;
          ahead = undefined;
          this.#lease = got.lease;
          this.#checkpoint = got.checkpoint;
          readFrom = got.checkpoint;
          acked = undefined;
          latestAcked = undefined;
          leaseLost = false;
          writeError = undefined;
          await writing; // a write of the previous lease, fenced off by the token anyway
          this.#startRenewing();
        }
        const lease = this.#lease;
        if (leaseLost) throw new LeaseLost();
        if (writeError !== undefined) {
          const error = writeError;
          writeError = undefined;
          throw error instanceof Error ? error : new Error('checkpoint write failed', { cause: error });
        }
        writeCheckpoint(lease); // retries an acknowledged checkpoint whose write failed
        const page = ahead?.after === readFrom ? await ahead.page : await this.#read(readFrom);
        ahead = undefined;
        if (page.messages.length === 0) {
          if (flights.length > 0) {
            await settleOldest(lease);
            continue;
          }
          // A commit was just announced but is not readable yet: an older transaction somewhere in the cluster
          // still runs (invariant 2). Its end sends no notification, so look again soon rather than after a
          // full polling interval.
          const recent = performance.now() - this.#lastNotifiedAt < NOTIFIED_RETRY_WINDOW_MS;
          await this.#sleep(recent ? emptyRetryMs : this.settings.pollIntervalMs, true);
          emptyRetryMs = recent ? Math.min(emptyRetryMs * 2, 50) : 1;
          continue;
        }
        emptyRetryMs = 1;
        if (page.messages.length === batchSize) {
          const next = { after: page.checkpoint, page: this.#read(page.checkpoint) };
          next.page.catch(() => undefined);
          ahead = next;
        }
        // Never start a publish on a lease that may run out under it: renew first, stand down if it is gone.
        if (
          lease.deadline - performance.now() < leaseMs / 2 &&
          !(await renewLease(db, this.#q, lease, leaseMs))
        ) {
          throw new LeaseLost();
        }
        const messages = page.messages;
        const done = this.#publish(messages);
        done.catch(() => undefined);
        flights.push({
          checkpoint: page.checkpoint,
          count: messages.length,
          done,
          started: performance.now(),
        });
        readFrom = page.checkpoint;
        if (flights.length >= maxBatchesInFlight) await settleOldest(lease);
      } catch (error) {
        // Whatever was in flight is abandoned: the next round republishes from the stored checkpoint.
        await Promise.allSettled(flights.map((f) => f.done));
        flights.length = 0;
        ahead = undefined;
        readFrom = latestAcked ?? this.#checkpoint;
        if (error instanceof LeaseLost) {
          // Another relay took over; what we published past the checkpoint it publishes again (at least once).
          this.#dropLease();
          continue;
        }
        this.#fail(error);
        const delay = this.#backoffMs();
        this.#failures++;
        await this.#sleep(delay, false);
      }
    }
    // Graceful stop: record what the broker acknowledged so that the next relay does not publish it again.
    const lease = this.#lease;
    if (!lease) return;
    try {
      while (flights.length > 0) await settleOldest(lease);
    } catch {
      // Not acknowledged: the next relay publishes it again.
    }
    for (let i = 0; i < 3 && (writing || acked) && !leaseLost; i++) {
      await writing;
      writeCheckpoint(lease);
      await writing;
    }
  }

  async #publish(messages: BusMessage[]): Promise<void> {
    if (messages.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new BusError(
              ErrorCodes.BUS_PUBLISH,
              this.bus.kind,
              `The ${this.bus.kind} broker did not acknowledge ${messages.length} events within ` +
                `${this.settings.publishTimeoutMs} ms; the relay retries them. Check the broker's health.`,
            ),
          ),
        this.settings.publishTimeoutMs,
      );
    });
    const publish = this.bus.publish(messages);
    publish.catch(() => undefined);
    try {
      await Promise.race([publish, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #backlog(): Promise<{ events: number; oldestAgeMs: number; checkpoint: string }> {
    const checkpoint = this.isLeader()
      ? this.#checkpoint
      : ((await readRelayCheckpoint(this.store.executor, this.#q, this.name)) ?? LOG_START);
    const [tx, gp] = checkpoint.split(':');
    // Counting is capped so that stats() stays cheap on a huge backlog; the age tells how bad it is beyond that.
    const [row] = await this.store.executor.query<{ events: string; oldest_ms: string | null }>(
      `select (select count(*) from (select 1 from ${this.#q}.events
                where (tx_order, global_position) > ($1::text::xid8, $2::bigint) limit 10000000) b) as events,
              (select extract(epoch from (now() - recorded_at)) * 1000 from ${this.#q}.events
                where (tx_order, global_position) > ($1::text::xid8, $2::bigint)
                order by tx_order, global_position limit 1) as oldest_ms`,
      [tx, gp],
    );
    return {
      events: Number(row?.events ?? 0),
      oldestAgeMs: row?.oldest_ms == null ? 0 : Math.max(0, Math.round(Number(row.oldest_ms))),
      checkpoint,
    };
  }

  async stats(): Promise<RelayStats> {
    const backlog = await this.#backlog();
    const now = Date.now();
    while (this.#rate.length > 0 && this.#rate[0]!.at < now - 10_000) this.#rate.shift();
    const recent = this.#rate.reduce((sum, r) => sum + r.count, 0);
    return {
      name: this.name,
      leader: this.isLeader(),
      checkpoint: backlog.checkpoint,
      backlogEvents: backlog.events,
      oldestUnpublishedAgeMs: backlog.oldestAgeMs,
      published: this.#published,
      publishRatePerSec: Math.round(recent / 10),
      errors: this.#errors,
      lastError: this.#lastError,
    };
  }

  async caughtUp(timeoutMs = 30_000): Promise<void> {
    // Not "the checkpoint reached head()": head() lags behind commits while any transaction of the cluster is
    // open (invariant 2), so it would resolve early. Instead: no committed event is left after the checkpoint.
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stored = (await readRelayCheckpoint(this.store.executor, this.#q, this.name)) ?? LOG_START;
      const [tx, gp] = stored.split(':');
      const rest = await this.store.executor.query(
        `select 1 as found from ${this.#q}.events where (tx_order, global_position) > ($1::text::xid8, $2::bigint) limit 1`,
        [tx, gp],
      );
      if (rest.length === 0) return;
      if (Date.now() > deadline) {
        throw new TimeoutError(
          `Relay ${this.name} did not catch up within ${timeoutMs} ms (it is at ${stored}). ` +
            'Check relay.stats() for errors and whether a relay of this name is running.',
          { relay: this.name, checkpoint: stored, timeoutMs },
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
