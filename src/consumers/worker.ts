import type { Registry } from 'prom-client';
import { partitionOf } from '../bus/partition.js';
import { InvalidArgumentError, WorkerStateError } from '../errors.js';
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
import { LeaseManager } from './leases.js';
import { newRegistry, registerMetrics, registerRejectedMetric } from './metrics.js';
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from './options.js';
import { BusIntake, busPartitionsRefusal } from './bus-intake.js';
import { loadActiveFailures, type FailureRow } from './sql.js';
import { ConsumerStats } from './stats.js';
import type { ConsumerCounters, ConsumerHealth, ConsumerRuntime, Worker } from './worker-types.js';

/**
 * Runs projections and reactors. Partitions map to lanes (one per consumer and partition): each lane is sequential,
 * lanes run concurrently, and worker processes of one group share the partitions through leases in PostgreSQL.
 *
 * @example
 * const worker = createWorker(store, { from: 'log', consumers: [orderSummary, receipts] });
 * await worker.start();
 * process.on('SIGTERM', () => void worker.stop());
 */
export function createWorker(store: EventStore, options: WorkerOptions): Worker {
  if (typeof store !== 'object' || store === null || typeof store.readLog !== 'function') {
    throw new InvalidArgumentError(
      'createWorker takes an event store from createEventStore() as its first argument.',
    );
  }
  return new WorkerImpl(store, resolveWorkerOptions(options));
}

class WorkerImpl implements Worker {
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
  readonly #partitionCache = new Map<string, number>();
  readonly #bus: BusIntake | null;

  constructor(store: EventStore, options: ResolvedWorkerOptions) {
    this.#store = store;
    this.#o = options;
    this.id = options.workerId;
    this.group = options.group;
    this.#q = quoteIdent(store.schema);
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
    this.#bus =
      options.from === 'log'
        ? null
        : new BusIntake({
            bus: options.from,
            store,
            q: this.#q,
            consumers: this.#consumers.map((c) => c.name),
            lane: (partition, index) => this.#lanes.get(partition)?.[index],
            partitionOf: (stream) => this.#partitionOf(stream),
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
    if (this.#o.from !== 'log') {
      const refusal = await busPartitionsRefusal(this.#store, this.#o.partitions);
      if (refusal) {
        this.#state = 'stopped';
        throw refusal;
      }
    }
    const [conflict] = await this.#leases.conflicts();
    if (conflict) {
      this.#state = 'stopped';
      throw new WorkerStateError(
        `A live worker of group ${JSON.stringify(conflict.group_name)} runs consumers [${conflict.consumers.join(', ')}]; ` +
          `this one would run [${this.#consumers.map((c) => c.name).join(', ')}] in group ${JSON.stringify(this.group)}. ` +
          'Workers that run the same consumer must share a group (option `group`), so that each partition of each ' +
          'consumer has exactly one owner.',
      );
    }
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
    const pending = new Set<number>([...this.#lanes.keys(), ...this.#stopping.keys()]);
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
    const outcome = await Promise.race([this.#drain(pending).then(() => 'drained' as const), gaveUp]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.#abandoned = true;
      const left = [...pending, ...this.#lanes.keys()].filter((p, i, all) => all.indexOf(p) === i);
      for (const p of left) this.#leases.owned.delete(p);
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

  #partitionOf(stream: string): number {
    let p = this.#partitionCache.get(stream);
    if (p === undefined) {
      p = partitionOf(stream, this.#o.partitions);
      if (this.#partitionCache.size > 100_000) this.#partitionCache.clear();
      this.#partitionCache.set(stream, p);
    }
    return p;
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
    let rows: FailureRow[];
    try {
      rows = await loadActiveFailures(
        this.#store.executor,
        this.#q,
        this.#consumers.map((c) => c.name),
        [...this.#lanes.keys()],
      );
    } catch (error) {
      this.#o.onError(error as Error);
      return;
    }
    for (const [partition, lanes] of this.#lanes) {
      for (const lane of lanes) {
        lane.syncFailures(
          rows.filter((r) => r.partition === partition && r.consumer === lane.name),
          startedAt,
        );
      }
    }
  }

  stats(): ConsumerCounters[] {
    return this.#consumers.map((c) => c.stats.counters(c.name, c.breaker.state));
  }

  health(consumer?: string): Promise<ConsumerHealth[]> {
    return readConsumerHealth(this.#store.executor, this.#q, this.#consumers, consumer);
  }
}
