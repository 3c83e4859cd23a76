// The public shape of the event store and its units of work (implemented in event-store.ts).
import type { Transaction as PgliteTransaction } from '@electric-sql/pglite';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { ContractRegistry } from '../contracts/registry.js';
import type { NewEvent, StoredEvent } from '../events/envelope.js';
import type { AppendOptions, AppendResult } from './append.js';
import type { CloseStreamOptions, CloseStreamResult } from './close-stream.js';
import type { QueryOptions, SqlExecutor } from './drivers/driver.js';
import type { Decide, HandleOptions, HandleResult } from './handle.js';
import type { StoreHealth } from './health.js';
import type { MigrationResult } from './migrate.js';
import type { LogArchive } from './log-archive.js';
import type { IterateLogOptions, LogHead, ReadLogOptions, ReadLogResult, ReadStreamOptions } from './read.js';

/**
 * The work a unit of work can do: the caller's own SQL and appends, all in one transaction. `E` is the type of the
 * events it reads and `N` of those it appends: unions discriminated by `type` when the store was created with typed
 * `events`.
 */
export interface EventStoreTransaction<
  E extends StoredEvent<string, unknown> = StoredEvent,
  N extends NewEvent<string, unknown> = NewEvent,
> {
  /**
   * Runs the caller's SQL inside the transaction. Interpolated values are sent as parameters, never as text:
   * `` await tx.sql`update orders set status = ${status} where id = ${id}` ``.
   */
  sql<R extends object = Record<string, unknown>>(
    strings: TemplateStringsArray,
    ...values: unknown[]
  ): Promise<R[]>;
  /** Runs a parameterised statement inside the transaction (`{ prepare: true }`: as a named prepared statement). */
  query<R extends object = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<R[]>;
  /** Appends events to one stream; they commit or roll back with the transaction. */
  append(stream: string, events: readonly N[], options?: AppendOptions): Promise<AppendResult>;
  readStream(stream: string, options?: ReadStreamOptions): Promise<E[]>;
  streamVersion(stream: string): Promise<number>;
  /**
   * One attempt of a command inside this transaction (see `EventStore.handle`): read, fold, decide, append with
   * the version read. A concurrency conflict is thrown (ExpectedVersionConflictError), not retried: the caller owns
   * the transaction, so the caller retries it as a whole. `maxRetries` does not apply here.
   */
  handle<S>(
    stream: string,
    decide: Decide<S, EventStoreTransaction<E, N>, N>,
    options: HandleOptions<S, E>,
  ): Promise<HandleResult<S, E>>;
}

/**
 * Any connection that runs a parameterised statement (`$1`, `$2`, …) inside the caller's open transaction and
 * resolves to its rows: what the ORM adapters (eventlane/drizzle, eventlane/kysely, eventlane/prisma) hand to `enlist`.
 */
export interface TransactionConnection {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** A connection the caller already opened a transaction on: a `pg` client, a PGlite transaction, or an adapter's. */
export type CallerTransaction = Pick<pg.ClientBase, 'query'> | PgliteTransaction | TransactionConnection;

/**
 * An event store. `E` is the type of the events it reads: with typed `events` (contracts made by defineEvent) a
 * union discriminated by `type`, so `if (e.type === 'order.paid')` narrows `e.data`; otherwise `StoredEvent`.
 * `N` is the type of the events it appends: with typed `events`, each type's `data` is checked against its
 * contract at compile time (`NewEventsOf`); otherwise any `NewEvent`.
 */
export interface EventStore<
  E extends StoredEvent<string, unknown> = StoredEvent,
  N extends NewEvent<string, unknown> = NewEvent,
> {
  /** The PostgreSQL schema of this store. */
  readonly schema: string;
  /** `'pg'` for a PostgreSQL server, `'pglite'` for the embedded store. */
  readonly driver: 'pg' | 'pglite';
  /** Applies pending migrations (idempotent; safe from several processes at once). */
  migrate(): Promise<MigrationResult>;
  /** Appends events to one stream atomically. */
  append(stream: string, events: readonly N[], options?: AppendOptions): Promise<AppendResult>;
  /** Runs `fn` in one transaction; a throw rolls back the caller's SQL and every append together. */
  transaction<T>(fn: (tx: EventStoreTransaction<E, N>) => Promise<T>): Promise<T>;
  /**
   * Works inside a transaction the caller opened on its own connection (a `pg` client after `BEGIN`, a PGlite
   * transaction, or an ORM's through eventlane/drizzle, eventlane/kysely or eventlane/prisma): appends commit or roll
   * back with the caller's transaction, and each one sends a NOTIFY in it that wakes relays and workers at commit.
   */
  enlist(connection: CallerTransaction): EventStoreTransaction<E, N>;
  readStream(stream: string, options?: ReadStreamOptions): Promise<E[]>;
  /** The stream's current version (its last position), 0 when it has no events. */
  streamVersion(stream: string): Promise<number>;
  /**
   * Handles a command on one stream: reads it (from a snapshot when `snapshots` keeps one), folds it with `evolve`
   * from `initialState()`, calls `decide(state, context)`, and appends the events it returns with the version that
   * was read as the expected version, all in one transaction that `context.tx` exposes for the caller's own SQL.
   * When another writer appended first, the whole attempt runs again (read, fold, decide), up to `maxRetries` times
   * with jittered waits; then a CommandConflictError. Resolves to the new state and the append's result.
   *
   * @example
   * const { state } = await store.handle(`cart-${id}`, (cart) => (cart.closed ? [] : [ItemAdded.create(item)]), {
   *   initialState: () => ({ items: 0, closed: false }),
   *   evolve: (cart, e) => (e.type === 'item.added' ? { ...cart, items: cart.items + 1 } : cart),
   * });
   */
  handle<S>(
    stream: string,
    decide: Decide<S, EventStoreTransaction<E, N>, N>,
    options: HandleOptions<S, E>,
  ): Promise<HandleResult<S, E>>;
  /** Reads the log in commit order; never skips an event whose transaction commits late. */
  readLog(options?: ReadLogOptions): Promise<ReadLogResult<E>>;
  /**
   * Iterates the log in commit order over every event committed before the call, one page in memory at a time;
   * waits (rather than stopping short) for events an older open transaction keeps unreadable.
   */
  iterateLog(options?: IterateLogOptions): AsyncIterable<E>;
  /**
   * Closes a stream: appends its final event (`options.event`, or an `eventlane.stream.closed` tombstone), marked
   * `metadata.closesStream: true`, and refuses every later append to it with StreamClosedError
   * (EVENTLANE_STREAM_CLOSED), in one transaction. List closed streams with `listClosedStreams` (the archive
   * reads them too).
   */
  closeStream(stream: string, options?: CloseStreamOptions): Promise<CloseStreamResult>;
  /**
   * Forgets a subject: deletes the data key of its personal fields (contracts' `personal`), after which every
   * read, replay, rebuild and relay shows those fields as `null` with `metadata.erased` listing them. Resolves
   * `forgotten: false` when the subject had no key (nothing to erase, or already forgotten). Irreversible.
   */
  forget(subject: string): Promise<{ subject: string; forgotten: boolean }>;
  /**
   * @internal Decrypts the personal fields of events read from the events table with SQL of one's own (or erases
   * them for forgotten subjects); with `'mark'`, an event whose field fails authentication is returned as stored
   * carrying its error, for the consumer to park.
   */
  reveal(events: StoredEvent[], mode?: 'throw' | 'mark'): Promise<StoredEvent[]>;
  /** Where the readable end of the log is now. */
  head(): Promise<LogHead>;
  /** Server-wide figures that explain delays, e.g. the age of the oldest open transaction (see StoreHealth). */
  health(): Promise<StoreHealth>;
  /**
   * Reports this store's appends into `registry`: `eventlane_store_appends_total` and
   * `eventlane_store_append_duration_seconds` by result (ok, conflict, error) and
   * `eventlane_store_appended_events_total`, labelled by schema. Idempotent; several registries may be given.
   * Until it is called, appends make no timer call and touch no counter.
   */
  registerMetrics(registry: Registry): void;
  /** Closes what the store opened; connections the caller handed in stay open. */
  close(): Promise<void>;
  /** @internal The database port, for eventlane's own components. */
  readonly executor: SqlExecutor;
  /** @internal Archived history (read-through), for eventlane's own readers of the log. */
  readonly logArchive?: LogArchive;
  /** The declared contracts (`events`), or undefined when none were given. Upcasts events from a bus. */
  readonly contracts: ContractRegistry | undefined;
  /**
   * @internal Calls `onCommit` after a transaction that appended to this store commits (LISTEN/NOTIFY; a hint
   * that may be late or lost when the listening connection breaks, so pair it with polling). Resolves to a stop
   * function.
   */
  onCommit(onCommit: () => void): Promise<() => Promise<void>>;
}

/** The NOTIFY channel of commit announcements; the payload is the store's schema. */
