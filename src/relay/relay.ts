import { randomUUID } from 'node:crypto';
import { embeddedBus } from '../bus/embedded/index.js';
import { checkPartitionCount } from '../bus/partition.js';
import type { Bus, BusMessage } from '../bus/types.js';
import { describeValue, InvalidArgumentError } from '../errors.js';
import type { EventStore } from '../store/event-store.js';
import { LOG_START, quoteIdent } from '../store/names.js';
import { getPartitionCount } from '../store/settings.js';
import { relayBacklog, waitCaughtUp } from './relay-backlog.js';
import { releaseLease, renewLease, tryAcquireLease, type Lease } from './lease.js';
import { CheckpointWriter } from './relay-checkpoint.js';
import { publishWithin, Waker } from './relay-wait.js';
import { tracePublish } from '../tracing/spans.js';
import { relayMetrics, type RelayMetrics, type RelayMetricsSource } from './metrics.js';
import { readPage, type Page } from './read-page.js';
import {
  RELAY_NAME,
  relaySettings,
  type Relay,
  type RelayOptions,
  type RelayStats,
  type Settings,
} from './relay-options.js';
import { parkedCounts, refusedEventId, RelayParking } from './relay-parking.js';

export type { Relay, RelayOptions, RelayStats } from './relay-options.js';

/**
 * After a commit notification whose event is not readable yet, the relay re-reads every 1, 2, 4 … 50 ms for this
 * long (a busy cluster can hold the oldest transaction open for seconds), then falls back to `pollIntervalMs`.
 */
const NOTIFIED_RETRY_WINDOW_MS = 5000;

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
  if (typeof name !== 'string' || !RELAY_NAME.test(name)) {
    throw new InvalidArgumentError(
      `Relay name ${describeValue(name)} is not usable: use 1–100 letters, digits, '_', '.', ':' or '-'.`,
      { name },
    );
  }
  const bus = options.bus ?? embeddedBus();
  if (typeof bus !== 'object' || bus === null || typeof bus.publish !== 'function') {
    throw new InvalidArgumentError('bus must be a Bus, e.g. natsBus({ servers }) from eventlane/nats.');
  }
  return new RelayImpl(store, bus, options.bus === undefined, name, relaySettings(options));
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
  readonly #waker = new Waker();
  #stopListening: (() => Promise<void>) | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #published = 0;
  #errors = 0;
  #lastError: string | undefined;
  #failures = 0;
  readonly #rate: { at: number; count: number }[] = [];
  readonly #metricsSource: RelayMetricsSource;
  readonly #parking: RelayParking;

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
      parked: () => parkedCounts(store.executor, this.#q, name),
    };
    this.#parking = new RelayParking(store.executor, this.#q, name, bus, (n) =>
      this.#metrics?.parked.inc({ relay: name }, n),
    );
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
      this.#stopListening = await this.store.onCommit(() => this.#waker.notify());
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
    this.#waker.stop();
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

  #sleep(ms: number, wakeOnCommit: boolean): Promise<void> {
    return this.#waker.sleep(ms, wakeOnCommit, this.#running);
  }

  #count(published: number): void {
    if (published === 0) return;
    this.#published += published;
    this.#metrics?.published.inc({ relay: this.name }, published);
    this.#rate.push({ at: Date.now(), count: published });
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
  #read(after: string): Promise<Page> {
    return readPage(this.store, this.#q, this.bus.kind, this.#partitions, this.settings, after);
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
    /** Whether the set of held streams must be read again (new lease, or a failed round that may have left it ahead). */
    let reloadParking = true;
    let lastReleaseAt = -Infinity;

    const cp = new CheckpointWriter(db, this.#q, leaseMs, (lease, checkpoint) => {
      if (this.#lease === lease) this.#checkpoint = checkpoint;
    });
    const settleOldest = async (lease: Lease): Promise<void> => {
      const flight = flights[0]!;
      await flight.done;
      flights.shift();
      this.#metrics?.batchSeconds.observe({ relay: this.name }, (performance.now() - flight.started) / 1000);
      this.#count(flight.count);
      this.#failures = 0;
      cp.ack(lease, flight.checkpoint, flight.count);
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
          cp.reset();
          await cp.writing; // a write of the previous lease, fenced off by the token anyway
          reloadParking = true;
          this.#startRenewing();
        }
        const lease = this.#lease;
        if (cp.leaseLost) throw new LeaseLost();
        cp.throwWriteError();
        cp.write(lease); // retries an acknowledged checkpoint whose write failed
        if (reloadParking) {
          await this.#parking.load();
          reloadParking = false;
        }
        const parking = this.#parking;
        if (parking.blocked.size > 0 && performance.now() - lastReleaseAt >= this.settings.parkedPollMs) {
          // An operator's retry or skip publishes held events: nothing of their streams may be in flight then.
          while (flights.length > 0) await settleOldest(lease);
          lastReleaseAt = performance.now();
          const released = await parking.release(this.#partitions, this.settings.source, batchSize, (m) =>
            this.#publish(m),
          );
          this.#count(released.published);
          // A long held stream drains a page per round, without waiting parkedPollMs between pages.
          if (released.more) lastReleaseAt = -Infinity;
        }
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
          const recent = performance.now() - this.#waker.lastNotifiedAt < NOTIFIED_RETRY_WINDOW_MS;
          const idleMs = Math.min(
            this.settings.pollIntervalMs,
            parking.blocked.size > 0 ? this.settings.parkedPollMs : Infinity,
          );
          await this.#sleep(recent ? emptyRetryMs : idleMs, true);
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
        // Events the bus can never take are parked, and later events of their streams held, in the same flight.
        const { publish: messages, rows } = parking.split(page.messages);
        const sent = this.#publish(messages);
        const done =
          rows.length === 0
            ? sent
            : Promise.all([
                sent,
                parking.write(rows, lease).then((ok) => {
                  if (!ok) throw new LeaseLost();
                }),
              ]).then(() => undefined);
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
        readFrom = cp.latestAcked ?? this.#checkpoint;
        // The abandoned pages may have marked streams held whose rows were never written.
        reloadParking = true;
        if (error instanceof LeaseLost) {
          // Another relay took over; what we published past the checkpoint it publishes again (at least once).
          this.#dropLease();
          continue;
        }
        this.#fail(error);
        const refused = refusedEventId(error);
        if (refused !== undefined) {
          // Not the broker's trouble but one message's: park it when its page is read again, no backoff.
          this.#parking.refuse(error, refused);
          continue;
        }
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
    await cp.flush(lease);
  }

  #publish(messages: BusMessage[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    return tracePublish(this.bus.kind, this.name, messages, () =>
      publishWithin(this.bus, messages, this.settings.publishTimeoutMs),
    );
  }

  async #backlog(): Promise<{ events: number; oldestAgeMs: number; checkpoint: string }> {
    return relayBacklog(
      this.store.executor,
      this.#q,
      this.name,
      this.isLeader() ? this.#checkpoint : undefined,
    );
  }

  async stats(): Promise<RelayStats> {
    const [backlog, parked] = await Promise.all([
      this.#backlog(),
      parkedCounts(this.store.executor, this.#q, this.name),
    ]);
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
      parkedEvents: parked.parked,
      heldEvents: parked.held,
    };
  }

  caughtUp(timeoutMs = 30_000): Promise<void> {
    return waitCaughtUp(this.store.executor, this.#q, this.name, timeoutMs);
  }
}
