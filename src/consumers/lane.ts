import type { Delivery } from '../bus/types.js';
import { isEventlaneError, ErrorCodes } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';
import type { EventStore } from '../store/event-store.js';
import { formatCheckpoint, parseCheckpoint, type LogPosition } from '../store/names.js';
import { backoffDelay } from './backoff.js';
import type { Breaker } from './breaker.js';
import { callHandler } from './call.js';
import type { ConsumerDefinition, ProjectionContext, ReactorContext } from './define.js';
import { performEffect } from './effects.js';
import type { ResolvedWorkerOptions } from './options.js';
import {
  checkFence,
  loadActiveFailures,
  loadCheckpoint,
  loadPosition,
  loadPositions,
  recordFailure,
  resolveFailures,
  saveCheckpoint,
  savePositions,
  type FailureRow,
  type LeaseRef,
  type Queryable,
} from './sql.js';
import type { ConsumerStats } from './stats.js';

/** One event waiting in a lane: from the log (with its parsed position) or from a bus (with its delivery). */
export interface LaneItem {
  event: StoredEvent;
  pos?: LogPosition;
  delivery?: Delivery;
}

/** A stream that waits: behind a failing event ('retrying', 'parked') or to be read from the store ('catchup'). */
interface Blocked {
  id: string | null;
  position: number;
  status: 'retrying' | 'parked' | 'catchup';
  dueAt: number;
  changedAt: number;
}

/** Internal signal: the handler for `event` (reached while processing item `index`) failed with `error`. */
class HandlerFailure extends Error {
  constructor(
    readonly index: number,
    readonly event: StoredEvent,
    readonly error: Error,
  ) {
    super(error.message);
  }
}

interface ApplyResult {
  /** Items [0, consumed) are done: committed, or recorded as failed with their stream blocked. */
  consumed: number;
  handled: number;
  failure: HandlerFailure | null;
  failureRow: FailureRow | null;
}

export interface LaneContext {
  store: EventStore;
  q: string;
  options: ResolvedWorkerOptions;
  consumer: ConsumerDefinition;
  lease: LeaseRef;
  breaker: Breaker;
  stats: ConsumerStats;
  mode: 'log' | 'bus';
  /** Log mode: asks the worker's log reader to read again from the lane's committed position (see `rewound`). */
  rewind(lane: Lane): void;
  /** The lane lost its lease or stopped on an error it cannot recover from. */
  lost(error: Error): void;
}

export function comparePositions(a: LogPosition, b: LogPosition): number {
  if (a.txOrder !== b.txOrder) return a.txOrder < b.txOrder ? -1 : 1;
  if (a.globalPosition !== b.globalPosition) return a.globalPosition < b.globalPosition ? -1 : 1;
  return 0;
}

const START: LogPosition = { txOrder: 0n, globalPosition: 0n };

/**
 * A lane: one consumer on one partition, processing sequentially. Lanes of different partitions and consumers run
 * concurrently. A lane never runs a stream's event before the previous one is committed (the order guard), and a
 * failing stream waits on its own while the lane goes on with every other stream.
 */
export class Lane {
  readonly ctx: LaneContext;
  readonly partition: number;
  #queue: LaneItem[] = [];
  #blocked = new Map<string, Blocked>();
  #pendingSync: { rows: FailureRow[]; startedAt: number } | null = null;
  /** Log mode: the last position committed, and the last one queued. */
  committed: LogPosition = START;
  #enqueuedUpTo: LogPosition = START;
  #overflow = false;
  /** Log mode: events are dropped until the log reader has moved back to `committed` (between two reads). */
  #awaitingRewind = true;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #wake: (() => void) | null = null;
  #loop: Promise<void> | null = null;

  constructor(ctx: LaneContext) {
    this.ctx = ctx;
    this.partition = ctx.lease.partition;
  }

  get name(): string {
    return this.ctx.consumer.name;
  }

  get queued(): number {
    return this.#queue.length;
  }

  get full(): boolean {
    return this.#queue.length >= this.ctx.options.maxQueuedPerLane;
  }

  /** The log reader waits while a lane could not take a whole page (so lanes rarely have to drop). */
  get nearlyFull(): boolean {
    const n = this.#queue.length;
    return n > 0 && n + this.ctx.options.readBatchSize > this.ctx.options.maxQueuedPerLane;
  }

  /** Loads where the lane stands (checkpoint, failing streams) before any event is offered. */
  async start(): Promise<void> {
    await this.#load();
    this.#state = 'running';
    this.#loop = this.#run();
    if (this.ctx.mode === 'log') this.ctx.rewind(this);
  }

  /**
   * Called by the log reader between two reads when it honours this lane's rewind: from now on the lane takes
   * events after its committed position. Doing this between reads is what makes sure no event falls in a gap.
   */
  rewound(): LogPosition {
    this.#enqueuedUpTo = this.committed;
    this.#awaitingRewind = false;
    return this.committed;
  }

  async #load(): Promise<void> {
    const { store, q, consumer } = this.ctx;
    if (this.ctx.mode === 'log') {
      const cp = await loadCheckpoint(store.executor, q, consumer.name, this.partition);
      this.committed = cp ? parseCheckpoint(cp) : START;
      this.#enqueuedUpTo = this.committed;
    }
    const rows = await loadActiveFailures(store.executor, q, [consumer.name], [this.partition]);
    this.#blocked.clear();
    this.#applySync(rows, 0);
  }

  async stop(): Promise<void> {
    if (this.#state === 'new') this.#state = 'stopped';
    if (this.#state === 'stopped' && !this.#loop) return;
    if (this.#state === 'running') this.#state = 'stopping';
    this.#wake?.();
    await this.#loop;
    this.#queue = [];
  }

  /** Log mode: queues an event unless it was queued or committed before. */
  offer(event: StoredEvent, pos: LogPosition): void {
    // Once it dropped an event, the lane takes nothing more until the reader has moved back to its checkpoint:
    // accepting later events would move its checkpoint past the dropped ones.
    if (this.#state !== 'running' || this.#awaitingRewind || this.#overflow) return;
    if (comparePositions(pos, this.#enqueuedUpTo) <= 0) return;
    if (this.full) {
      // A paused lane (breaker open, slow handler) must not hold the log reader up for every other lane: it drops
      // what it cannot hold and asks the reader to read again from its checkpoint once it has drained.
      this.#overflow = true;
      return;
    }
    this.#queue.push({ event, pos });
    this.#enqueuedUpTo = pos;
    this.#wake?.();
  }

  /** Bus mode: queues a delivery; a full lane asks the bus to redeliver later. */
  offerDelivery(delivery: Delivery): void {
    if (this.#state !== 'running' || this.full) {
      void delivery.nack(100).catch(() => undefined);
      return;
    }
    this.#queue.push({ event: delivery.event, delivery });
    this.#wake?.();
  }

  /** Operator changes (retry, skip) and failures recorded by earlier owners, from the worker's poll. */
  syncFailures(rows: FailureRow[], startedAt: number): void {
    this.#pendingSync = { rows, startedAt };
    this.#wake?.();
  }

  #applySync(rows: FailureRow[], startedAt: number): void {
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.stream);
      const entry = this.#blocked.get(row.stream);
      if (entry && entry.changedAt > startedAt) continue; // changed by this lane after the poll read
      if (entry && entry.id === row.id && entry.status === row.status) continue;
      this.#blocked.set(row.stream, {
        id: row.id,
        position: Number(row.stream_position),
        status: row.status,
        dueAt: row.next_attempt_at ? row.next_attempt_at.getTime() : Date.now(),
        changedAt: startedAt,
      });
    }
    for (const [stream, entry] of this.#blocked) {
      if (entry.id !== null && !seen.has(stream) && entry.changedAt <= startedAt) {
        // Resolved or skipped by an operator: read the rest of the stream from the store.
        this.#blocked.set(stream, {
          id: null,
          position: entry.position,
          status: 'catchup',
          dueAt: 0,
          changedAt: startedAt,
        });
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  async #run(): Promise<void> {
    try {
      while (this.#state === 'running') {
        if (this.#pendingSync) {
          const { rows, startedAt } = this.#pendingSync;
          this.#pendingSync = null;
          this.#applySync(rows, startedAt);
        }
        const now = Date.now();
        let due: [string, Blocked] | undefined;
        let nextDue = Infinity;
        for (const e of this.#blocked) {
          if (e[1].status === 'parked') continue;
          if (e[1].dueAt <= now) {
            due = e;
            break;
          }
          nextDue = Math.min(nextDue, e[1].dueAt);
        }
        if (!due && this.#queue.length === 0) {
          if (this.#overflow) {
            this.#overflow = false;
            this.#awaitingRewind = true;
            this.ctx.rewind(this);
          }
          await this.#sleep(Math.min(1000, nextDue - now));
          continue;
        }
        const wait = this.ctx.breaker.acquire();
        if (wait > 0) {
          await this.#sleep(wait);
          continue;
        }
        try {
          const handled = due ? await this.#catchUp(due[0], due[1]) : await this.#step();
          if (handled > 0) this.ctx.breaker.success();
          else this.ctx.breaker.release();
        } catch (error) {
          this.ctx.breaker.release();
          if (isEventlaneError(error, ErrorCodes.LEASE_LOST)) {
            this.#state = 'stopped';
            this.ctx.lost(error);
            return;
          }
          this.ctx.options.onError(error as Error);
          await this.#reset();
        }
      }
    } finally {
      this.#state = 'stopped';
    }
  }

  /** After an unexpected error (database gone, …): forget what is queued and start again from what is committed. */
  async #reset(): Promise<void> {
    this.#awaitingRewind = this.ctx.mode === 'log';
    for (const item of this.#queue) void item.delivery?.nack(500).catch(() => undefined);
    this.#queue = [];
    await this.#sleep(500);
    for (;;) {
      if (this.#state !== 'running') return;
      try {
        await this.#load();
        break;
      } catch (error) {
        this.ctx.options.onError(error as Error);
        await this.#sleep(1000);
      }
    }
    if (this.ctx.mode === 'log') {
      this.#awaitingRewind = true;
      this.ctx.rewind(this);
    }
  }

  /** Processes the next batch from the queue; returns how many handlers it ran. */
  async #step(): Promise<number> {
    const { batchSize } = this.ctx.options;
    const items = this.#queue.slice(0, batchSize);
    const skip = items.map((i) => this.#blocked.has(i.event.stream));
    const result = await this.#apply(items, skip);
    this.#queue.splice(0, result.consumed);
    const last = items[result.consumed - 1];
    if (last?.pos) this.committed = last.pos;
    this.#afterApply(result);
    const acks: Promise<void>[] = [];
    for (const item of items.slice(0, result.consumed)) if (item.delivery) acks.push(item.delivery.ack());
    await Promise.all(acks);
    return result.handled;
  }

  /** Reads a waiting stream from the store, after its last applied position, and applies it. */
  async #catchUp(stream: string, entry: Blocked): Promise<number> {
    const { store, q, consumer, options } = this.ctx;
    if (entry.status === 'retrying') this.ctx.stats.retries++;
    const last = await loadPosition(store.executor, q, consumer.name, stream);
    const events = await store.readStream(stream, { from: last + 1, limit: options.batchSize });
    if (events.length === 0) {
      if (entry.id !== null) await resolveFailures(store.executor, q, [entry.id]);
      this.#blocked.delete(stream);
      return 0;
    }
    const result = await this.#apply(
      events.map((event) => ({ event })),
      events.map(() => false),
    );
    this.#afterApply(result);
    if (!result.failure) {
      if (events.length === options.batchSize) {
        this.#blocked.set(stream, {
          id: null,
          position: entry.position,
          status: 'catchup',
          dueAt: 0,
          changedAt: Date.now(),
        });
      } else {
        this.#blocked.delete(stream);
      }
    }
    return result.handled;
  }

  #afterApply(result: ApplyResult): void {
    const row = result.failureRow;
    if (!row) return;
    this.#blocked.set(row.stream, {
      id: row.id,
      position: Number(row.stream_position),
      status: row.status,
      dueAt: row.next_attempt_at ? row.next_attempt_at.getTime() : Infinity,
      changedAt: Date.now(),
    });
    if (row.status === 'parked') this.ctx.stats.parkedTransitions++;
  }

  async #apply(items: LaneItem[], skip: boolean[]): Promise<ApplyResult> {
    return this.ctx.consumer.kind === 'projection'
      ? this.#applyProjection(items, skip)
      : this.#applyReactor(items, skip);
  }

  /**
   * Projections run inside the transaction that also moves the order guard and the checkpoint. When a handler
   * fails, the transaction is rolled back and the prefix before the failing item is applied again together with the
   * failure record: projection handlers only touch the database, so running them again is safe.
   */
  async #applyProjection(items: LaneItem[], skip: boolean[]): Promise<ApplyResult> {
    let upTo = items.length;
    let failure: HandlerFailure | null = null;
    for (;;) {
      try {
        const { handled, row } = await this.ctx.store.transaction(async (tx) => {
          await checkFence(tx, this.ctx.q, this.ctx.lease);
          const context: ProjectionContext = {
            sql: (strings, ...values) => tx.sql(strings, ...values),
            query: (text, params) => tx.query(text, params),
            tables: {},
          };
          const { consumer } = this.ctx;
          if (consumer.kind !== 'projection') throw new Error('unreachable');
          let handled = 0;
          const limit = failure ? { index: failure.index, position: failure.event.streamPosition } : null;
          const positions = await this.#guard(tx, items, skip, upTo, limit, async (event, index) => {
            const handler = consumer.handlers[event.type];
            if (!handler) return;
            try {
              await callHandler(
                `Handler ${JSON.stringify(event.type)} of projection ${JSON.stringify(consumer.name)}`,
                () => handler(event, context),
              );
            } catch (error) {
              throw new HandlerFailure(index, event, error as Error);
            }
            handled++;
          });
          const row = await this.#commit(tx, items, positions, failure);
          return { handled, row };
        });
        this.ctx.stats.addApplied(handled);
        return { consumed: upTo, handled, failure, failureRow: row };
      } catch (error) {
        if (!(error instanceof HandlerFailure)) throw error;
        this.ctx.stats.addFailure();
        this.ctx.breaker.failure();
        failure = error;
        upTo = error.index + 1;
      }
    }
  }

  /**
   * Reactors run their handlers outside any transaction (their effects are outside the database and journaled on
   * their own), then commit the order guard, checkpoint and any failure together.
   */
  async #applyReactor(items: LaneItem[], skip: boolean[]): Promise<ApplyResult> {
    const { consumer, store, q } = this.ctx;
    if (consumer.kind !== 'reactor') throw new Error('unreachable');
    let handled = 0;
    let failure: HandlerFailure | null = null;
    let positions: Map<string, number>;
    try {
      const reader = {
        query: <R extends object>(text: string, params?: readonly unknown[]) =>
          store.executor.query<R>(text, params),
        readStream: (stream: string, options?: { from?: number; limit?: number }) =>
          store.readStream(stream, options),
      };
      positions = await this.#guard(reader, items, skip, items.length, null, async (event, index) => {
        const handler = consumer.handlers[event.type];
        if (!handler) return;
        const context: ReactorContext = {
          effect: async <T>(name: string, fn: (key: string) => Promise<T>) =>
            (await performEffect(store.executor, q, consumer.name, event.id, name, fn, this.ctx.lease))
              .result as T,
        };
        try {
          await callHandler(
            `Handler ${JSON.stringify(event.type)} of reactor ${JSON.stringify(consumer.name)}`,
            () => handler(event, context),
          );
        } catch (error) {
          // Losing the lease is not the handler's failure: stop the lane, the new owner takes over.
          if (isEventlaneError(error, ErrorCodes.LEASE_LOST)) throw error;
          throw new HandlerFailure(index, event, error as Error);
        }
        handled++;
      });
    } catch (error) {
      if (!(error instanceof PartialGuard)) throw error;
      failure = error.failure;
      positions = error.positions;
      this.ctx.stats.addFailure();
      this.ctx.breaker.failure();
    }
    const row = await store.transaction(async (tx) => {
      await checkFence(tx, q, this.ctx.lease);
      return this.#commit(tx, items, positions, failure);
    });
    this.ctx.stats.addApplied(handled);
    return { consumed: failure ? failure.index + 1 : items.length, handled, failure, failureRow: row };
  }

  /**
   * The order guard. For each item before `upTo`: at or below the stream's last applied position it is a duplicate;
   * the next one is applied; a later one is early, and the missing events are read from the store first.
   * Returns the streams' new positions. Reactors get the positions reached before a failure back (PartialGuard).
   * With `limit` (a projection applying the prefix before a failure), the item at `limit.index` only gets its missing
   * events below the failing position applied, so the stream stops exactly at the failing event.
   */
  async #guard(
    ex: Queryable & Pick<EventStore, 'readStream'>,
    items: LaneItem[],
    skip: boolean[],
    upTo: number,
    limit: { index: number; position: number } | null,
    run: (event: StoredEvent, index: number) => Promise<void>,
  ): Promise<Map<string, number>> {
    const { q, consumer } = this.ctx;
    const streams = new Set<string>();
    for (let i = 0; i < upTo; i++) if (!skip[i]) streams.add(items[i]!.event.stream);
    const lock = consumer.kind === 'projection';
    const known =
      streams.size > 0
        ? await loadPositions(ex, q, consumer.name, [...streams], lock)
        : new Map<string, number>();
    const changed = new Map<string, number>();
    let duplicates = 0;
    for (let i = 0; i < upTo; i++) {
      if (skip[i]) continue;
      const e = items[i]!.event;
      let last = changed.get(e.stream) ?? known.get(e.stream) ?? 0;
      if (e.streamPosition <= last) {
        duplicates++;
        continue;
      }
      const stopAt = limit && limit.index === i ? limit.position : Infinity;
      try {
        if (e.streamPosition > last + 1 && last + 1 < stopAt) {
          const missing = await ex.readStream(e.stream, {
            from: last + 1,
            limit: e.streamPosition - last - 1,
          });
          for (const m of missing) {
            if (m.streamPosition !== last + 1 || m.streamPosition >= stopAt) break;
            await run(m, i);
            last = m.streamPosition;
            changed.set(e.stream, last);
          }
        }
        if (e.streamPosition !== last + 1 || e.streamPosition >= stopAt) continue;
        await run(e, i);
      } catch (error) {
        if (error instanceof HandlerFailure && !lock) {
          this.ctx.stats.duplicates += duplicates;
          throw new PartialGuard(error, changed);
        }
        throw error;
      }
      changed.set(e.stream, e.streamPosition);
    }
    this.ctx.stats.duplicates += duplicates;
    return changed;
  }

  /** Writes the guard's positions, the checkpoint, resolved failures and a new failure, in the caller's transaction. */
  async #commit(
    tx: Queryable,
    items: LaneItem[],
    positions: Map<string, number>,
    failure: HandlerFailure | null,
  ): Promise<FailureRow | null> {
    const { q, consumer, options } = this.ctx;
    await savePositions(tx, q, consumer.name, positions);
    const consumedLast = items[failure ? failure.index : items.length - 1];
    if (consumedLast?.pos) {
      await saveCheckpoint(
        tx,
        q,
        consumer.name,
        this.partition,
        formatCheckpoint(consumedLast.pos.txOrder, consumedLast.pos.globalPosition),
      );
    }
    const resolved: string[] = [];
    for (const [stream, position] of positions) {
      const entry = this.#blocked.get(stream);
      if (entry?.id && position >= entry.position) resolved.push(entry.id);
    }
    await resolveFailures(tx, q, resolved);
    for (const [stream, position] of positions) {
      const entry = this.#blocked.get(stream);
      if (entry?.id && position >= entry.position) entry.id = null;
    }
    if (!failure) return null;
    const e = failure.event;
    const code = (failure.error as { code?: unknown }).code;
    return recordFailure(tx, q, {
      consumer: consumer.name,
      partition: this.partition,
      stream: e.stream,
      streamPosition: e.streamPosition,
      eventId: e.id,
      eventType: e.type,
      error: failure.error.message || String(failure.error),
      errorCode: typeof code === 'string' ? code : null,
      stack: failure.error.stack ?? null,
      maxAttempts: options.retry.maxAttempts,
      delayMs: (attempt) => backoffDelay(options.retry, attempt),
    });
  }
}

/** A reactor failure partway through the guard, with the positions reached before it. */
class PartialGuard extends Error {
  constructor(
    readonly failure: HandlerFailure,
    readonly positions: Map<string, number>,
  ) {
    super(failure.message);
  }
}
