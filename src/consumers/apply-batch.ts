import { ErrorCodes, isEventlaneError } from '../errors.js';
import type { Delivery } from '../bus/types.js';
import type { StoredEvent } from '../events/envelope.js';
import {
  asciiText,
  MAX_ERROR_CODE_BYTES,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_ERROR_STACK_BYTES,
  storedErrorText,
} from '../events/error-text.js';
import type { EventStore } from '../store/event-store.js';
import { formatCheckpoint, type LogPosition } from '../store/names.js';
import { backoffDelay } from './backoff.js';
import { callHandler } from './call.js';
import { handlerOf, type ProjectionContext, type ReactorContext } from './define.js';
import { performEffect } from './effects.js';
import { MAX_READ_STREAM_LIMIT } from '../store/read.js';
import { traceHandle } from '../tracing/spans.js';
import type { LaneContext } from './lane-context.js';
import {
  fenceAndLoadPositions,
  loadPositions,
  recordFailure,
  saveProgress,
  type FailureInput,
  type FailureRow,
  type Queryable,
} from './sql.js';

/** One event waiting in a lane: from the log (with its parsed position) or from a bus (with its delivery). */
export interface LaneItem {
  event: StoredEvent;
  pos?: LogPosition;
  delivery?: Delivery;
  /** Bus mode: `event` is the store's copy (see verify.ts). */
  verified?: boolean;
}

/** Internal signal: the handler for `event` (reached while processing item `index`) failed with `error`. */
export class HandlerFailure extends Error {
  constructor(
    readonly index: number,
    readonly event: StoredEvent,
    readonly error: Error,
  ) {
    super(error.message);
  }
}

export interface ApplyResult {
  /** Items [0, consumed) are done: committed, or recorded as failed with their stream blocked. */
  consumed: number;
  handled: number;
  failure: HandlerFailure | null;
  failureRow: FailureRow | null;
}

/** What the applier needs from its lane besides the context. */
export interface ApplyHooks {
  partition: number;
  /** False once the lane is stopping: a reactor batch then ends between two events. */
  running(): boolean;
  /** During a catch-up that read its stream to the end: the failure row to resolve if every event applies. */
  resolveOnSuccess(): string | null;
}

/**
 * Applies one batch of a lane: the order guard, the handlers, and the commit of positions, checkpoint and failures.
 * Kept apart from the lane, which decides what to run when (queue, retries, catch-ups, the breaker).
 */
export class BatchApplier {
  readonly ctx: LaneContext;
  readonly hooks: ApplyHooks;
  readonly partition: number;

  constructor(ctx: LaneContext, hooks: ApplyHooks) {
    this.ctx = ctx;
    this.hooks = hooks;
    this.partition = hooks.partition;
  }

  apply(items: LaneItem[], skip: boolean[]): Promise<ApplyResult> {
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
            const handler = handlerOf(consumer.handlers, event.type);
            if (!handler) return;
            try {
              await traceHandle(consumer.name, 'projection', [event], () =>
                callHandler(
                  `Handler ${JSON.stringify(event.type)} of projection ${JSON.stringify(consumer.name)}`,
                  () => handler(event, context),
                  event,
                ),
              );
            } catch (error) {
              throw new HandlerFailure(index, event, error as Error);
            }
            handled++;
          });
          const row = await this.#commit(tx, items, upTo, positions, failure, false);
          return { handled, row };
        });
        this.ctx.stats.addApplied(handled);
        return { consumed: upTo, handled, failure, failureRow: row };
      } catch (error) {
        if (!(error instanceof HandlerFailure)) throw this.#recordingFailed(failure, error);
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
    let consumed = items.length;
    let positions: Map<string, number>;
    try {
      const reader = {
        query: <R extends object>(text: string, params?: readonly unknown[]) =>
          store.executor.query<R>(text, params),
        readStream: (stream: string, options?: { from?: number; limit?: number }) =>
          store.readStream(stream, { ...options, unreadable: 'mark' }),
      };
      positions = await this.#guard(reader, items, skip, items.length, null, async (event, index) => {
        // A reactor batch can take long (it calls out for every event): on stop, commit what is done and hand over.
        if (!this.hooks.running()) throw new StopRequested(index);
        const handler = handlerOf(consumer.handlers, event.type);
        if (!handler) return;
        const context: ReactorContext = {
          effect: async <T>(name: string, fn: (key: string) => Promise<T>) =>
            (
              await performEffect(
                store.executor,
                q,
                consumer.name,
                event.id,
                name,
                fn,
                this.ctx.lease,
                (e) => this.ctx.options.onError(e),
                event,
              )
            ).result as T,
        };
        try {
          await traceHandle(consumer.name, 'reactor', [event], () =>
            callHandler(
              `Handler ${JSON.stringify(event.type)} of reactor ${JSON.stringify(consumer.name)}`,
              () => handler(event, context),
              event,
            ),
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
      positions = error.positions;
      if (error.reason instanceof StopRequested) {
        consumed = error.reason.index;
      } else {
        failure = error.reason;
        consumed = failure.index + 1;
        this.ctx.stats.addFailure();
        this.ctx.breaker.failure();
      }
    }
    let row: FailureRow | null;
    try {
      row = await store.transaction((tx) => this.#commit(tx, items, consumed, positions, failure, true));
    } catch (error) {
      throw this.#recordingFailed(failure, error);
    }
    this.ctx.stats.addApplied(handled);
    return { consumed, handled, failure, failureRow: row };
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
    // Projections check the fence and lock their positions first, in the transaction their handlers write in;
    // reactors read positions without a transaction and check the fence when they commit.
    const lock = consumer.kind === 'projection';
    const known = lock
      ? await fenceAndLoadPositions(ex, q, this.ctx.lease, consumer.name, [...streams])
      : streams.size > 0
        ? await loadPositions(ex, q, consumer.name, [...streams], false)
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
        // The hole is read in pages (readStream returns at most MAX_READ_STREAM_LIMIT events per call).
        while (e.streamPosition > last + 1 && last + 1 < stopAt) {
          const before = last;
          const missing = await ex.readStream(e.stream, {
            from: last + 1,
            limit: Math.min(e.streamPosition - last - 1, MAX_READ_STREAM_LIMIT),
            unreadable: 'mark',
          });
          for (const m of missing) {
            if (m.streamPosition !== last + 1 || m.streamPosition >= stopAt) break;
            await run(m, i);
            last = m.streamPosition;
            changed.set(e.stream, last);
          }
          if (last === before) break;
        }
        if (e.streamPosition !== last + 1 || e.streamPosition >= stopAt) continue;
        await run(e, i);
      } catch (error) {
        if ((error instanceof HandlerFailure || error instanceof StopRequested) && !lock) {
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

  /** An error of a transaction that was to record `failure`: the lane must back off, not run the handler again now. */
  #recordingFailed(failure: HandlerFailure | null, error: unknown): unknown {
    if (failure === null || isEventlaneError(error, ErrorCodes.LEASE_LOST)) return error;
    return new RecordingFailed(failure, this.ctx.consumer.name, error);
  }

  /** Writes the guard's positions, the checkpoint, resolved failures and a new failure, in the caller's transaction. */
  async #commit(
    tx: Queryable,
    items: LaneItem[],
    consumed: number,
    positions: Map<string, number>,
    failure: HandlerFailure | null,
    fence: boolean,
  ): Promise<FailureRow | null> {
    const { q, consumer, options } = this.ctx;
    const consumedLast = items[consumed - 1];
    const resolveId = this.hooks.resolveOnSuccess();
    const resolved = resolveId !== null && !failure && consumed === items.length ? [resolveId] : [];
    await saveProgress(tx, q, {
      consumer: consumer.name,
      partition: this.partition,
      positions,
      checkpoint: consumedLast?.pos
        ? formatCheckpoint(consumedLast.pos.txOrder, consumedLast.pos.globalPosition)
        : null,
      resolved,
      lease: fence ? this.ctx.lease : null,
    });
    if (!failure) return null;
    const e = failure.event;
    const text = storedErrorText(failure.error);
    const input: FailureInput = {
      consumer: consumer.name,
      partition: this.partition,
      stream: e.stream,
      streamPosition: e.streamPosition,
      eventId: e.id,
      eventType: e.type,
      error: text.message,
      errorCode: text.code,
      stack: text.stack,
      maxAttempts: options.retry.maxAttempts,
      delayMs: (attempt) => backoffDelay(options.retry, attempt),
    };
    // The text is storable in a UTF-8 database; one whose encoding cannot hold a character still refuses it (a data
    // exception). The failure is then recorded with ASCII-only text rather than not at all: an unrecorded failure
    // is never parked.
    await tx.query('savepoint eventlane_failure');
    try {
      const row = await recordFailure(tx, q, input);
      await tx.query('release savepoint eventlane_failure');
      return row;
    } catch (error) {
      if (!String((error as { code?: unknown }).code).startsWith('22')) throw error;
      await tx.query('rollback to savepoint eventlane_failure');
      return recordFailure(tx, q, {
        ...input,
        error: asciiText(text.message, MAX_ERROR_MESSAGE_BYTES),
        errorCode: text.code === null ? null : asciiText(text.code, MAX_ERROR_CODE_BYTES),
        stack: text.stack === null ? null : asciiText(text.stack, MAX_ERROR_STACK_BYTES),
      });
    }
  }
}

/**
 * A handler failed and the transaction that records its failure failed too. The lane reports it as
 * FailureNotRecordedError and backs off before it tries the event again.
 */
export class RecordingFailed extends Error {
  constructor(
    readonly failure: HandlerFailure,
    readonly consumer: string,
    override readonly cause: unknown,
  ) {
    super(failure.message);
  }
}

/** A reactor failure partway through the guard, with the positions reached before it. */
class PartialGuard extends Error {
  constructor(
    readonly reason: HandlerFailure | StopRequested,
    readonly positions: Map<string, number>,
  ) {
    super(reason.message);
  }
}

/** The lane is stopping: a reactor batch ends before item `index`. */
class StopRequested extends Error {
  constructor(readonly index: number) {
    super('stop requested');
  }
}
