/**
 * `store.handle` on the store itself: each attempt reads outside a transaction and appends in one statement, and
 * opens a transaction only when the decision uses `context.tx` or a snapshot is due.
 *
 * Why this keeps the guarantees: the append checks the expected version inside PostgreSQL, atomically, so a read
 * outside a transaction is as safe as one inside (at READ COMMITTED every statement sees its own snapshot anyway):
 * another writer in between makes the append fail with a conflict, and the attempt runs again. A single-statement
 * append is its own transaction. What must commit together still does: the caller's SQL and the events share the
 * transaction the decision opened by using `tx`, and a snapshot commits with the events it stands for.
 *
 * Why it matters: a command in its own transaction took five round trips (begin, read, append, read back, commit)
 * against the plain append's one; here it takes two (read, append). See BENCHMARKS.md, handle-1x8.
 */

import type { NewEvent, StoredEvent } from '../events/envelope.js';
import type { AppendOptions, AppendOutcome } from './append.js';
import type { SqlExecutor } from './drivers/driver.js';
import { EVENT_COLUMNS, toStoredEvent, type EventRow } from './event-row.js';
import type { EventStoreTransaction } from './event-store-types.js';
import {
  handleOnce,
  stateCacheAttempt,
  type CommandUnit,
  type Decide,
  type HandleOptions,
  type HandleResult,
} from './handle.js';
import type { LogArchive } from './log-archive.js';
import { readStream } from './read.js';
import { writeSnapshot } from './snapshots.js';

/** What the direct path needs of the store. */
export interface DirectCommandStore {
  readonly schemaQ: string;
  /** Runs statements outside any transaction. */
  readonly executor: SqlExecutor;
  /** A transaction as `store.transaction` opens it, with its bound object and its executor. */
  transaction<T>(fn: (tx: EventStoreTransaction, executor: SqlExecutor) => Promise<T>): Promise<T>;
  /** Validates (contracts) and appends through `executor`; resolves to the outcome and the events as validated. */
  append(
    executor: SqlExecutor,
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions,
  ): Promise<{ outcome: AppendOutcome; events: readonly NewEvent[] }>;
  /** The event at its type's current version (contracts); the event itself without contracts. */
  upcast(event: StoredEvent): StoredEvent;
  /** Wakes relays and workers after a commit that appended. */
  announce(): void;
  /** Where archived events are read from: a command folds the whole history, archived events included. */
  readonly archive?: LogArchive;
}

interface Opened {
  tx: EventStoreTransaction;
  executor: SqlExecutor;
}

/**
 * A transaction opened on first use and ended by `commit` or `rollback`. The driver runs transactions as a callback,
 * so the callback here waits on a promise that `commit` resolves and `rollback` rejects.
 */
class LazyTransaction {
  readonly #store: DirectCommandStore;
  #opened: Promise<Opened> | undefined;
  #finished: Promise<unknown> | undefined;
  #end: { resolve: () => void; reject: (error: Error) => void } | undefined;

  constructor(store: DirectCommandStore) {
    this.#store = store;
  }

  get isOpen(): boolean {
    return this.#opened !== undefined;
  }

  open(): Promise<Opened> {
    this.#opened ??= new Promise<Opened>((resolveOpened, rejectOpened) => {
      let began = false;
      this.#finished = this.#store.transaction(
        (tx, executor) =>
          new Promise<void>((resolve, reject) => {
            began = true;
            this.#end = { resolve, reject };
            resolveOpened({ tx, executor });
          }),
      );
      // A transaction that could not begin (no connection): the first use of `tx` gets the error.
      this.#finished.catch((error: unknown) => {
        if (!began) rejectOpened(error instanceof Error ? error : new Error(String(error)));
      });
    });
    return this.#opened;
  }

  /** Commits when open; resolves once the commit is done, rejects when it failed. */
  async commit(): Promise<void> {
    if (this.#opened === undefined) return;
    await this.#opened;
    this.#end!.resolve();
    await this.#finished;
  }

  /** Rolls back when open; never throws (the error that caused it is the one to report). */
  async rollback(cause: unknown): Promise<void> {
    if (this.#opened === undefined) return;
    try {
      await this.#opened;
    } catch {
      return;
    }
    this.#end!.reject(cause instanceof Error ? cause : new Error(String(cause)));
    await this.#finished!.catch(() => undefined);
  }
}

/** `context.tx` of the direct path: its first use opens the attempt's transaction. */
function lazyTransactionObject(lazy: LazyTransaction): EventStoreTransaction {
  const open = () => lazy.open().then((o) => o.tx);
  return {
    sql: <R extends object>(strings: TemplateStringsArray, ...values: unknown[]) =>
      open().then((tx) => tx.sql<R>(strings, ...values)),
    query: <R extends object>(text: string, params?: readonly unknown[]) =>
      open().then((tx) => tx.query<R>(text, params)),
    append: (stream, events, options) => open().then((tx) => tx.append(stream, events, options)),
    readStream: (stream, options) => open().then((tx) => tx.readStream(stream, options)),
    streamVersion: (stream) => open().then((tx) => tx.streamVersion(stream)),
    handle: (stream, decide, options) => open().then((tx) => tx.handle(stream, decide, options)),
  };
}

interface CommandReadRow extends Partial<EventRow> {
  snapshot_version: string | number | null;
  snapshot_state: unknown;
}

/**
 * The snapshot and the first page of events after it in one statement. One row when the stream has no events
 * after the snapshot (event columns null); the state rides on the first row only.
 */
async function loadWithSnapshot(
  executor: SqlExecutor,
  schemaQ: string,
  stream: string,
  snapshot: { name: string; version: number },
  limit: number,
): Promise<{ snapshot: { state: unknown; version: number } | undefined; rows: EventRow[] }> {
  const rows = await executor.query<CommandReadRow>(
    `select s.stream_version as snapshot_version,
            case when e.n is null or e.n = 1 then s.state end as snapshot_state, e.*
       from (select) as one
       left join ${schemaQ}.snapshots s on s.stream = $1 and s.name = $2 and s.evolve_version = $3
       left join lateral (
         select row_number() over (order by stream_position) as n, ${EVENT_COLUMNS}
           from ${schemaQ}.events
          where stream = $1 and stream_position > coalesce(s.stream_version, 0)
          order by stream_position
          limit $4
       ) e on true`,
    [stream, snapshot.name, snapshot.version, limit],
    { prepare: true },
  );
  const first = rows[0];
  const found =
    first === undefined || first.snapshot_version === null
      ? undefined
      : { state: first.snapshot_state, version: Number(first.snapshot_version) };
  const events = first === undefined || first.id === null ? [] : (rows as unknown as EventRow[]);
  return { snapshot: found, rows: events };
}

/**
 * The stored event of a single-event append, built from what was sent and what the append answered: what reading
 * it back would return. Undefined when it cannot be built exactly: several events (their global positions need
 * not be consecutive) or a duplicate (the stored events are older ones).
 */
function storedFromOutcome(
  stream: string,
  events: readonly NewEvent[],
  outcome: AppendOutcome,
): StoredEvent | undefined {
  const { result, batch } = outcome;
  if (events.length !== 1 || result.duplicate) return undefined;
  const event = events[0]!;
  return {
    id: result.ids[0]!,
    type: event.type,
    version: event.version ?? 1,
    stream,
    streamPosition: result.positions[0]!,
    globalPosition: result.globalPosition,
    checkpoint: result.checkpoint,
    data: JSON.parse(batch.data[0]!) as StoredEvent['data'],
    metadata: JSON.parse(batch.metadata[0]!) as StoredEvent['metadata'],
    occurredAt: new Date(batch.occurredAt[0]!),
    recordedAt: new Date(Math.floor(outcome.recordedMs)),
  };
}

function directUnit(
  store: DirectCommandStore,
  lazy: LazyTransaction,
  appended: { value: boolean },
): CommandUnit<StoredEvent, EventStoreTransaction> {
  const { schemaQ } = store;
  const upcastAll = (rows: EventRow[]): StoredEvent[] => rows.map((r) => store.upcast(toStoredEvent(r)));
  // Before the decision nothing is open: reads go outside a transaction. After it, through the transaction if the
  // decision opened one (its SQL and the events commit together).
  const executor = async (): Promise<SqlExecutor> =>
    lazy.isOpen ? (await lazy.open()).executor : store.executor;
  return {
    tx: lazyTransactionObject(lazy),
    async load(stream, snapshots, limit) {
      if (snapshots === undefined) {
        const events = await readStream(
          store.executor,
          schemaQ,
          stream,
          { from: 1, limit, archived: 'read' },
          store.archive,
        );
        return { snapshot: undefined, events: events.map((e) => store.upcast(e)) };
      }
      const read = await loadWithSnapshot(store.executor, schemaQ, stream, snapshots, limit);
      const from = (read.snapshot?.version ?? 0) + 1;
      const first = read.rows[0];
      if (
        (first !== undefined && Number(first.stream_position) !== from) ||
        (first === undefined && read.snapshot === undefined)
      ) {
        // The events after the snapshot begin in the archive (or all of them are there): read them through.
        const events = await readStream(
          store.executor,
          schemaQ,
          stream,
          { from, limit, archived: 'read' },
          store.archive,
        );
        return { snapshot: read.snapshot, events: events.map((e) => store.upcast(e)) };
      }
      return { snapshot: read.snapshot, events: upcastAll(read.rows) };
    },
    async readStream(stream, from, limit) {
      const events = await readStream(
        await executor(),
        schemaQ,
        stream,
        { from, limit, archived: 'read' },
        store.archive,
      );
      return events.map((e) => store.upcast(e));
    },
    async append(stream, events, expectedVersion, withSnapshot) {
      const into = withSnapshot ? (await lazy.open()).executor : await executor();
      const { outcome, events: valid } = await store.append(into, stream, events, { expectedVersion });
      appended.value = true;
      const built = storedFromOutcome(stream, valid, outcome);
      if (built !== undefined) return { result: outcome.result, stored: [store.upcast(built)] };
      const { result } = outcome;
      const stored = await readStream(into, schemaQ, stream, {
        from: result.positions[0]!,
        limit: events.length,
      });
      return { result, stored: stored.map((e) => store.upcast(e)) };
    },
    async writeSnapshot(stream, snapshots, version, state) {
      await writeSnapshot(await executor(), schemaQ, stream, snapshots, version, state);
    },
  };
}

/** One attempt of `store.handle` on the direct path (see the top of this file). */
export async function handleDirectOnce<S>(
  store: DirectCommandStore,
  stream: string,
  decide: Decide<S, EventStoreTransaction>,
  options: HandleOptions<S, StoredEvent>,
  attempt: number,
): Promise<HandleResult<S, StoredEvent>> {
  const lazy = new LazyTransaction(store);
  const appended = { value: false };
  const cached = stateCacheAttempt(options.cache, stream);
  let result: HandleResult<S, StoredEvent>;
  try {
    result = await handleOnce(
      cached.wrap(directUnit(store, lazy, appended)),
      stream,
      decide,
      options,
      attempt,
    );
  } catch (error) {
    cached.drop();
    await lazy.rollback(error);
    throw error;
  }
  try {
    await lazy.commit();
  } catch (error) {
    cached.drop();
    throw error;
  }
  cached.keep(result);
  if (appended.value) store.announce();
  return result;
}
