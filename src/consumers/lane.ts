import type { Delivery } from '../bus/types.js';
import { FailureNotRecordedError, isEventlaneError, ErrorCodes } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';
import { storedErrorText } from '../events/error-text.js';
import { comparePositions, parseCheckpoint, type LogPosition } from '../store/names.js';
import { LANE_ERROR_BACKOFF } from './backoff.js';
import { syncBlockedStreams, type Blocked } from './blocked-streams.js';
import type { LaneContext } from './lane-context.js';
import { loadActiveFailures, loadCheckpoint, loadPosition, resolveFailures, type FailureRow } from './sql.js';
import { verifyDeliveries } from './verify.js';
import { isStreamName } from '../events/names.js';
import { BehindStreams } from './behind-streams.js';
import { BatchApplier, RecordingFailed, type ApplyResult, type LaneItem } from './apply-batch.js';

export type { LaneItem } from './apply-batch.js';

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
  /** Bus mode: streams found behind when the partition was taken. */
  readonly #behind = new BehindStreams();
  #pendingSync: { rows: FailureRow[]; startedAt: number } | null = null;
  /** During a catch-up that read its stream to the end: the failure row to resolve if every event applies. */
  #resolveOnSuccess: string | null = null;
  /** Log mode: the last position committed, and the last one queued. */
  committed: LogPosition = START;
  #enqueuedUpTo: LogPosition = START;
  #overflow = false;
  /** Log mode: events are dropped until the log reader has moved back to `committed` (between two reads). */
  #awaitingRewind = true;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #wake: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  /** Unexpected errors in a row, for the back-off after each; a step that succeeds ends the run. */
  #errorStreak = 0;
  readonly #applier: BatchApplier;

  constructor(ctx: LaneContext) {
    this.ctx = ctx;
    this.partition = ctx.lease.partition;
    this.#applier = new BatchApplier(ctx, {
      partition: this.partition,
      running: () => this.#state === 'running',
      resolveOnSuccess: () => this.#resolveOnSuccess,
    });
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
    syncBlockedStreams(this.#blocked, rows, 0);
  }

  async stop(): Promise<void> {
    if (this.#state === 'new') this.#state = 'stopped';
    if (this.#state === 'stopped' && !this.#loop) return;
    if (this.#state === 'running') this.#state = 'stopping';
    this.#wake?.();
    await this.#loop;
    const held = this.#queue.flatMap((i) => (i.delivery ? [i.delivery] : []));
    this.#queue = [];
    // Streams a full lane acknowledged and had not read from the store yet: a new owner may have looked for streams
    // behind before these events were committed, so they are set aside too (acknowledging again is harmless).
    for (const entry of this.#blocked.values())
      if (entry.status === 'catchup' && entry.acked) held.push(entry.acked);
    // Neither acknowledged nor applied: a redelivery would count against the broker's delivery limit.
    if (held.length > 0) await this.ctx.setAside(held);
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

  /**
   * Bus mode: queues a delivery. A lane never asks for a redelivery: every redelivery counts against the broker's
   * delivery limit. A full lane (`maxQueuedPerLane`, for a bus whose in-flight window is larger) acknowledges the
   * delivery and reads its stream from the store instead; should this worker die first, the partition's next owner
   * finds the stream behind when it takes the partition. Returns false when the lane is stopping: the worker then
   * sets the delivery aside for the partition's next owner.
   */
  offerDelivery(delivery: Delivery): boolean {
    if (this.#state !== 'running') return false;
    if (this.full) {
      // A message that cannot name a stream has nothing to read from the store: it is only acknowledged.
      const stream = delivery.event.stream;
      if (isStreamName(stream) && !this.#blocked.has(stream)) {
        this.#blocked.set(stream, {
          id: null,
          position: 0,
          status: 'catchup',
          acked: delivery,
          dueAt: 0,
          changedAt: Date.now(),
        });
        this.#wake?.();
      }
      void delivery.ack().catch(() => undefined);
      return true;
    }
    this.#behind.delivered(Date.now());
    this.#queue.push({ event: delivery.event, delivery });
    this.#wake?.();
    return true;
  }

  /** Bus mode: streams that were behind (up to `version`) when this worker took the partition (BehindStreams). */
  noteBehind(streams: readonly { stream: string; version: number }[]): void {
    this.#behind.note(streams, (stream) => this.#blocked.has(stream));
    if (streams.length > 0) this.#wake?.();
  }

  /** Moves noted streams the bus did not bring to the catch-up; returns when to look again. */
  #promoteBehind(now: number): number {
    const { streams, nextAt } = this.#behind.due(now, this.#queue.length);
    for (const stream of streams) {
      if (!this.#blocked.has(stream))
        this.#blocked.set(stream, { id: null, position: 0, status: 'catchup', dueAt: 0, changedAt: now });
    }
    return nextAt;
  }

  /** Operator changes (retry, skip) and failures recorded by earlier owners, from the worker's poll. */
  syncFailures(rows: FailureRow[], startedAt: number): void {
    this.#pendingSync = { rows, startedAt };
    this.#wake?.();
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
          syncBlockedStreams(this.#blocked, rows, startedAt);
        }
        const now = Date.now();
        let due: [string, Blocked] | undefined;
        let nextDue = this.#promoteBehind(now);
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
          this.#errorStreak = 0;
          if (handled > 0) this.ctx.breaker.success();
          else this.ctx.breaker.release();
        } catch (error) {
          this.ctx.breaker.release();
          if (isEventlaneError(error, ErrorCodes.LEASE_LOST)) {
            this.#state = 'stopped';
            this.ctx.lost(error);
            return;
          }
          const delay = this.#nextErrorDelay();
          this.#report(error, delay);
          await this.#reset(delay);
        }
      }
    } finally {
      this.#state = 'stopped';
    }
  }

  #nextErrorDelay(): number {
    this.#errorStreak++;
    return Math.min(
      LANE_ERROR_BACKOFF.maxMs,
      LANE_ERROR_BACKOFF.baseMs * 2 ** Math.min(16, this.#errorStreak - 1),
    );
  }

  /** Waits `ms` unless the lane stops; new events and the parked-event poll do not cut it short. */
  async #wait(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (this.#state === 'running' && Date.now() < until) await this.#sleep(until - Date.now());
  }

  #report(error: unknown, delay: number): void {
    if (error instanceof RecordingFailed) {
      const { event, error: handlerError } = error.failure;
      const where = {
        consumer: error.consumer,
        stream: event.stream,
        streamPosition: event.streamPosition,
        eventId: event.id,
      };
      const message = storedErrorText(handlerError).message;
      this.ctx.options.onError(new FailureNotRecordedError(where, message, error.cause, delay));
      return;
    }
    this.ctx.options.onError(error as Error);
  }

  /**
   * After an unexpected error (database gone, …): forget what is queued and start again from what is committed,
   * after `delay` ms. The wait is not cut short by new events or the parked-event poll (only by stop): it is what
   * keeps a persistent fault from running the failing handler in a loop.
   */
  async #reset(delay: number): Promise<void> {
    this.#awaitingRewind = this.ctx.mode === 'log';
    // Bus deliveries stay queued (a nack would count against the broker's delivery limit); after verification they
    // carry only what the store holds, so none of them can be what made the lane fail.
    if (this.ctx.mode === 'log') this.#queue = [];
    await this.#wait(delay);
    for (;;) {
      if (this.#state !== 'running') return;
      try {
        await this.#load();
        break;
      } catch (error) {
        this.ctx.options.onError(error as Error);
        await this.#wait(this.#nextErrorDelay());
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
    let items = this.#queue.slice(0, batchSize);
    if (this.ctx.mode === 'bus') {
      items = await this.#verify(items);
      if (items.length === 0) return 0;
    }
    const skip = items.map((i) => this.#blocked.has(i.event.stream));
    const result = await this.#applier.apply(items, skip);
    this.#queue.splice(0, result.consumed);
    const last = items[result.consumed - 1];
    if (last?.pos) this.committed = last.pos;
    this.#afterApply(result);
    const acks: Promise<void>[] = [];
    for (const item of items.slice(0, result.consumed)) {
      if (!item.delivery) continue;
      acks.push(item.delivery.ack());
      this.#behind.passed(item.event.stream, item.event.streamPosition);
    }
    await Promise.all(acks);
    return result.handled;
  }

  /**
   * Bus mode: swaps the head of the queue for the store's copies of the events it names (one query) and sets aside
   * what the store does not hold: reported, counted, acknowledged, never applied, never moving the guard.
   */
  async #verify(items: LaneItem[]): Promise<LaneItem[]> {
    if (items.every((i) => i.verified)) return items;
    const { kept, rejected } = await verifyDeliveries(this.ctx, items);
    this.#queue.splice(0, items.length, ...kept);
    for (const { item, error } of rejected) {
      const stats = this.ctx.stats.rejected;
      stats.set(error.reason, (stats.get(error.reason) ?? 0) + 1);
      this.ctx.options.onError(error);
      void item.delivery?.ack().catch(() => undefined);
    }
    return kept;
  }

  /** Reads a waiting stream from the store, after its last applied position, and applies it. */
  async #catchUp(stream: string, entry: Blocked): Promise<number> {
    const { store, q, consumer, options } = this.ctx;
    if (entry.status === 'retrying') this.ctx.stats.retries++;
    const last = await loadPosition(store.executor, q, consumer.name, stream);
    const events = await store.readStream(stream, {
      from: last + 1,
      limit: options.batchSize,
      unreadable: 'mark',
    });
    this.ctx.stats.readFromStore += events.length;
    if (events.length === 0) {
      if (entry.id !== null) await resolveFailures(store.executor, q, [entry.id]);
      this.#blocked.delete(stream);
      return 0;
    }
    // The failure row is resolved (and the stream marked caught up) only in the transaction that applies the stream's
    // last event: until then the row keeps the stream's catch-up alive across restarts and takeovers.
    const complete = events.length < options.batchSize;
    this.#resolveOnSuccess = complete ? entry.id : null;
    let result: ApplyResult;
    try {
      result = await this.#applier.apply(
        events.map((event) => ({ event })),
        events.map(() => false),
      );
    } finally {
      this.#resolveOnSuccess = null;
    }
    this.#afterApply(result);
    if (!result.failure && result.consumed === events.length) {
      if (complete) this.#blocked.delete(stream);
      else this.#blocked.set(stream, { ...entry, status: 'catchup', dueAt: 0, changedAt: Date.now() });
    }
    return result.handled;
  }

  #afterApply(result: ApplyResult): void {
    const row = result.failureRow;
    if (!row) return;
    this.#blocked.set(row.stream, {
      id: row.id,
      position: Number(row.stream_position),
      status: row.status === 'parked' ? 'parked' : 'retrying', // recordFailure returns an active row
      dueAt: row.next_attempt_at ? row.next_attempt_at.getTime() : Infinity,
      changedAt: Date.now(),
    });
    if (row.status === 'parked') this.ctx.stats.parkedTransitions++;
  }
}
