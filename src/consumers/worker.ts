import type { Registry } from 'prom-client';
import { cachedPartitionOf } from '../bus/partition.js';
import { WorkerStateError } from '../errors.js';
import type { EventStore } from '../store/event-store.js';
import {
  comparePositions,
  formatCheckpoint,
  parseCheckpoint,
  quoteIdent,
  type LogPosition,
} from '../store/names.js';
import { Breaker } from './breaker.js';
import { readConsumerHealth, readLag } from './health.js';
import { Lane } from './lane.js';
import { groupConflict, LeaseManager } from './leases.js';
import { newRegistry, registerMetrics, registerRejectedMetric } from './metrics.js';
import type { ResolvedWorkerOptions } from './options.js';
import { BusIntake, busPartitionsRefusal } from './bus-intake.js';
import { loadActiveFailures } from './sql.js';
import { ConsumerStats } from './stats.js';
import { healthOf, startWith, stopWithin, within, type VersionedRunner } from './versioned.js';
import type { ConsumerCounters, ConsumerHealth, ConsumerRuntime, ConsumerWorker } from './worker-types.js';

/**
 * The consumer runtime behind `createWorker` (src/projections/worker.ts): reactors and handler-only projections
 * run through partitions and lanes (one per consumer and partition): each lane is sequential, lanes run
 * concurrently, and worker processes of one group share the partitions through leases in PostgreSQL. Versioned
 * projections run in `versioned`, the projection engine, started and stopped with the rest.
 */
export function newConsumerWorker(
  store: EventStore,
  options: ResolvedWorkerOptions,
  versioned: VersionedRunner | null,
): ConsumerWorker {
  return new WorkerImpl(store, options, versioned);
}

class WorkerImpl implements ConsumerWorker {
  readonly id: string;
  readonly group: string;
  readonly metrics: Registry;
  readonly #store: EventStore;
  readonly #o: ResolvedWorkerOptions;
  readonly #q: string;
  readonly #consumers: ConsumerRuntime[];
  readonly #leases: LeaseManager;
  /** Lanes by partition, one per consumer. */
  readonly #lanes = new Map<number, Lane[]>();
  /** Partitions whose lanes are stopping (handed over or lost), so ticks neither wait for nor repeat them. */
  readonly #stopping = new Map<number, Promise<void>>();
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #stopped: Promise<void> = Promise.resolve();
  /** Set when stop() gave up waiting: lanes that finish later must not touch leases a new owner may hold. */
  #abandoned = false;
  #timers: NodeJS.Timeout[] = [];
  #loops: Promise<void>[] = [];
  #unlisten: (() => Promise<void>) | undefined;
  /** A commit was announced since the reader last backed off: read again soon, even if the next read is empty. */
  #commitNotified = false;
  #wakeReader: (() => void) | null = null;
  #leaseTick: Promise<void> = Promise.resolve();
  // Log reader state.
  #cursor: LogPosition | null = null;
  #rewinds = new Set<Lane>();
  readonly #partitionOf: (stream: string) => number;
  readonly #bus: BusIntake | null;
  readonly #versioned: VersionedRunner | null;
  readonly store: EventStore;

  constructor(store: EventStore, options: ResolvedWorkerOptions, versioned: VersionedRunner | null) {
    this.#store = store;
    this.#versioned = versioned;
    this.store = versioned?.store ?? store;
    this.#o = options;
    this.id = options.workerId;
    this.group = options.group;
    this.#q = quoteIdent(store.schema);
    this.#partitionOf = cachedPartitionOf(options.partitions);
    this.#consumers = options.consumers.map((definition) => ({
      definition,
      name: definition.name,
      stats: new ConsumerStats(),
      breaker: new Breaker(options.breaker),
    }));
    this.#leases = new LeaseManager(store.executor, this.#q, {
      group: options.group,
      consumers: options.consumers.map((c) => c.name),
      workerId: options.workerId,
      partitions: options.partitions,
      leaseTtlMs: options.leaseTtlMs,
      breakers: () => Object.fromEntries(this.#consumers.map((c) => [c.name, c.breaker.state])),
    });
    this.metrics = options.registry ?? newRegistry();
    registerMetrics(this.metrics, {
      consumers: this.#consumers,
      lag: (name) => readLag(this.#store.executor, this.#q, name),
      partitionsOwned: () => this.#leases.owned.size,
      oldestTransactionAge: () => store.health().then((h) => h.oldestTransactionAgeSeconds),
    });
    registerRejectedMetric(this.metrics, this.#consumers);
    versioned?.registerMetrics(this.metrics);
    this.#bus =
      options.from === 'log' || this.#consumers.length === 0
        ? null
        : new BusIntake({
            bus: options.from,
            store,
            q: this.#q,
            consumers: this.#consumers.map((c) => c.name),
            lane: (partition, index) => this.#lanes.get(partition)?.[index],
            partitionOf: this.#partitionOf,
            running: () => this.#state === 'running',
            onError: (error) => this.#o.onError(error),
          });
  }

  partitions(): number[] {
    return [...this.#leases.owned.keys()].sort((a, b) => a - b);
  }

  async start(): Promise<void> {
    if (this.#state !== 'new')
      throw new WorkerStateError(
        `Worker ${this.id} was already started; create a new worker to start again.`,
      );
    try {
      await startWith(this.#versioned, () => this.#startLanes(), this.#o.onError);
    } catch (error) {
      // Refused before it ran; a failure once running (joining the bus) leaves it to stop().
      if (this.#state === 'new') this.#state = 'stopped';
      throw error;
    }
  }

  /** Starts the consumers run through partitions and lanes; none when the worker runs versioned projections only. */
  async #startLanes(): Promise<void> {
    if (this.#consumers.length === 0) {
      this.#state = 'running';
      return;
    }
    if (this.#o.from !== 'log') {
      const refusal = await busPartitionsRefusal(this.#store, this.#o.partitions);
      if (refusal) throw refusal;
    }
    const [conflict] = await this.#leases.conflicts();
    if (conflict) throw groupConflict(conflict, this.#consumers, this.group);
    this.#state = 'running';
    await this.#leases.init();
    if (this.#o.from !== 'log') await this.#o.from.connect({ partitions: this.#o.partitions });
    this.#leaseTick = this.#tick();
    await this.#leaseTick;
    this.#every(this.#o.heartbeatMs, () => {
      this.#leaseTick = this.#leaseTick.then(() => this.#tick());
    });
    this.#every(this.#o.parkedPollMs, () => void this.#pollFailures());
    if (this.#o.from === 'log') {
      // A commit announced by the store (its own appends, and enlisted ones at their commit) ends the reader's idle
      // pause at once; without notifications the worker still polls every pollIntervalMs at most.
      this.#unlisten = await this.#store
        .onCommit(() => {
          this.#commitNotified = true;
          this.#wakeReader?.();
        })
        .catch((e: unknown) => (this.#o.onError(e as Error), undefined));
      this.#loops.push(this.#readLoop());
    }
  }

  #every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    timer.unref?.();
    this.#timers.push(timer);
  }

  async stop(): Promise<void> {
    if (this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    if (this.#state !== 'running') return this.#stopped;
    this.#state = 'stopping';
    this.#stopped = this.#stopWithin(this.#o.stopTimeoutMs);
    return this.#stopped;
  }

  /** Stops everything, waiting at most `ms` for in-flight work before abandoning it (see `stopTimeoutMs`). */
  async #stopWithin(ms: number): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    await this.#unlisten?.().catch(() => undefined);
    this.#wakeReader?.();
    const versioned = stopWithin(this.#versioned, ms, this.#o.onError, this.id);
    const pending = new Set<number>([...this.#lanes.keys(), ...this.#stopping.keys()]);
    const drained = await within(this.#drain(pending), ms, this.#o.onError);
    await versioned;
    if (!drained) {
      this.#abandoned = true;
      const left = [...pending, ...this.#lanes.keys()].filter((p, i, all) => all.indexOf(p) === i);
      for (const p of left) this.#leases.owned.delete(p);
      // Lanes the drain had not reached yet are told to stop too (not awaited: their in-flight work is what is being
      // abandoned), or they would go on polling after stop() returned.
      for (const lanes of this.#lanes.values())
        for (const lane of lanes) lane.stop().catch((e: unknown) => this.#o.onError(e as Error));
      this.#lanes.clear();
      this.#o.onError(
        new WorkerStateError(
          `Worker ${this.id} did not finish its in-flight work within stopTimeoutMs (${ms} ms) and abandoned ` +
            `partitions [${left.sort((a, b) => a - b).join(', ')}]. Their leases expire after leaseTtlMs ` +
            `(${this.#o.leaseTtlMs} ms); the next owner applies their events again (projection batches roll back, ` +
            'journaled effects are not repeated). Raise stopTimeoutMs if handlers need longer to finish.',
        ),
      );
    }
    await this.#leases.leave().catch((e: unknown) => this.#o.onError(e as Error));
    this.#state = 'stopped';
  }

  async #drain(pending: Set<number>): Promise<void> {
    await this.#leaseTick.catch(() => undefined);
    await Promise.all(this.#loops);
    await this.#bus?.close().catch((e: unknown) => this.#o.onError(e as Error));
    for (const p of this.#lanes.keys()) pending.add(p);
    await Promise.all(
      [...this.#lanes.keys()].map((p) => this.#stopPartition(p, true).finally(() => pending.delete(p))),
    );
    await Promise.all(this.#stopping.values());
    for (const p of this.#stopping.keys()) pending.delete(p);
    pending.clear();
  }

  async #tick(): Promise<void> {
    if (this.#state !== 'running') return;
    try {
      const changes = await this.#leases.tick();
      // Stopping lanes waits for their in-flight batch (seconds, for a reactor calling slow services). It runs in the
      // background so this worker keeps renewing its other leases meanwhile; a blocked heartbeat would let them expire.
      for (const p of changes.lost) this.#stopInBackground(p, false);
      for (const p of changes.handOver) this.#stopInBackground(p, true);
      // All at once: started one after another (two queries per lane), a worker taking 16 partitions held its next
      // heartbeat for seconds on a busy database, long enough for its leases to look expired to the others.
      const started = await Promise.allSettled(
        [...changes.acquired].map(([p, token]) => this.#startPartition(p, token)),
      );
      for (const r of started) if (r.status === 'rejected') this.#o.onError(r.reason as Error);
      if (this.#bus) {
        await this.#bus.resubscribe(this.partitions());
        const acquired = [...changes.acquired.keys()];
        if (acquired.length > 0) this.#bus.scanInBackground(acquired);
      }
    } catch (error) {
      this.#o.onError(error as Error);
    }
  }

  async #startPartition(partition: number, token: number): Promise<void> {
    const lanes = this.#consumers.map(
      (c) =>
        new Lane({
          store: this.#store,
          q: this.#q,
          options: this.#o,
          consumer: c.definition,
          lease: { group: this.group, partition, owner: this.id, token },
          breaker: c.breaker,
          stats: c.stats,
          mode: this.#o.from === 'log' ? 'log' : 'bus',
          rewind: (lane) => {
            this.#rewinds.add(lane);
            this.#wakeReader?.();
          },
          lost: (error) => {
            this.#o.onError(error);
            this.#stopInBackground(partition, false);
          },
          setAside: (deliveries) => this.#bus!.setAside(c.name, partition, deliveries),
        }),
    );
    this.#lanes.set(partition, lanes);
    try {
      await Promise.all(lanes.map((l) => l.start()));
    } catch (error) {
      await this.#stopPartition(partition, true);
      throw error;
    }
  }

  #stopInBackground(partition: number, release: boolean): void {
    if (this.#stopping.has(partition)) return;
    const done = this.#stopPartition(partition, release)
      .catch((e: unknown) => this.#o.onError(e as Error))
      .finally(() => this.#stopping.delete(partition));
    this.#stopping.set(partition, done);
  }

  async #stopPartition(partition: number, release: boolean): Promise<void> {
    const lanes = this.#lanes.get(partition);
    if (!lanes) return;
    this.#lanes.delete(partition);
    for (const l of lanes) this.#rewinds.delete(l);
    await Promise.all(lanes.map((l) => l.stop()));
    if (this.#abandoned) return;
    if (release) await this.#leases.release(partition).catch((e: unknown) => this.#o.onError(e as Error));
    else this.#leases.owned.delete(partition);
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeReader = done;
    });
  }

  /**
   * One log reader per worker: reads the log in commit order and hands each event to the lanes of its partition.
   * Lanes ask to rewind (when they start, or after dropping events while paused); rewinds are honoured here,
   * between two reads, so the reader never skips an event a lane still needs.
   */
  async #readLoop(): Promise<void> {
    let idle = 1;
    let empty = 0;
    while (this.#state === 'running') {
      for (const lane of this.#rewinds) {
        const from = lane.rewound();
        if (this.#cursor === null || comparePositions(from, this.#cursor) < 0) this.#cursor = from;
      }
      this.#rewinds.clear();
      if (this.#cursor === null || this.#lanes.size === 0) {
        await this.#pause(this.#o.pollIntervalMs);
        continue;
      }
      // Backpressure: wait for a full lane, unless its consumer is paused by the breaker (it drops and rereads).
      let blocked = false;
      for (const lanes of this.#lanes.values()) {
        for (const l of lanes) if (l.nearlyFull && l.ctx.breaker.state === 'closed') blocked = true;
      }
      if (blocked) {
        await this.#pause(2);
        continue;
      }
      let page;
      try {
        page = await this.#store.readLog({
          after: formatCheckpoint(this.#cursor.txOrder, this.#cursor.globalPosition),
          limit: this.#o.readBatchSize,
          unreadable: 'mark',
        });
      } catch (error) {
        this.#o.onError(error as Error);
        await this.#pause(1000);
        continue;
      }
      for (const event of page.events) {
        const lanes = this.#lanes.get(this.#partitionOf(event.stream));
        if (!lanes) continue;
        const pos = parseCheckpoint(event.checkpoint);
        for (const lane of lanes) lane.offer(event, pos);
      }
      if (page.events.length > 0) {
        this.#cursor = parseCheckpoint(page.checkpoint);
        idle = 1;
        empty = 0;
        if (page.events.length < this.#o.readBatchSize) await this.#pause(0);
      } else {
        // An empty read right after events usually means a commit is about to become visible (an older transaction
        // is still open): keep polling every millisecond for a few reads, then back off towards pollIntervalMs.
        // A notified commit starts that again: it may be held back by an older transaction elsewhere in the cluster.
        if (this.#commitNotified) {
          this.#commitNotified = false;
          idle = 1;
          empty = 0;
        }
        await this.#pause(idle);
        if (++empty > 10) idle = Math.min(idle * 2, this.#o.pollIntervalMs);
      }
    }
  }

  async #pollFailures(): Promise<void> {
    if (this.#state !== 'running' || this.#lanes.size === 0) return;
    const startedAt = Date.now();
    const names = this.#consumers.map((c) => c.name);
    const rows = await loadActiveFailures(this.#store.executor, this.#q, names, [
      ...this.#lanes.keys(),
    ]).catch((e: unknown) => (this.#o.onError(e as Error), null));
    if (rows === null) return;
    for (const [partition, lanes] of this.#lanes) {
      for (const lane of lanes) {
        const own = rows.filter((r) => r.partition === partition && r.consumer === lane.name);
        lane.syncFailures(own, startedAt);
      }
    }
  }

  stats(): ConsumerCounters[] {
    const own = this.#consumers.map((c) => c.stats.counters(c.name, c.breaker.state));
    return [...own, ...(this.#versioned?.stats() ?? [])];
  }

  health(consumer?: string): Promise<ConsumerHealth[]> {
    const own = (name?: string) => readConsumerHealth(this.#store.executor, this.#q, this.#consumers, name);
    return healthOf(own, this.#consumers, this.#versioned, consumer);
  }
}
