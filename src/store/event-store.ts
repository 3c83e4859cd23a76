import type { Transaction as PgliteTransaction } from '@electric-sql/pglite';
import type pg from 'pg';
import { InvalidArgumentError, StoreClosedError } from '../errors.js';
import type { NewEvent, StoredEvent } from '../events/envelope.js';
import { createContractRegistry, type ContractRegistry } from '../contracts/registry.js';
import type { AnyEventContract, EventsOf } from '../contracts/types.js';
import { appendToStream, type AppendLimits, type AppendOptions, type AppendResult } from './append.js';
import type { Driver, SqlExecutor } from './drivers/driver.js';
import { createPgPool, pgClientDriver, pgClientExecutor, pgPoolDriver, redactUrl } from './drivers/pg.js';
import { openPglite, pgliteDriver, pgliteTransactionExecutor } from './drivers/pglite.js';
import { readStoreHealth, type StoreHealth } from './health.js';
import { migrate, type MigrationResult } from './migrate.js';
import { checkSchemaName, DEFAULT_SCHEMA, quoteIdent } from './names.js';
import {
  checkEventStoreOptions,
  DEFAULT_MAX_APPEND_BYTES,
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_STATEMENT_TIMEOUT_MS,
  type EventStoreOptions,
} from './options.js';
import {
  iterateLog,
  readHead,
  readLog,
  readStream,
  readStreamVersion,
  type IterateLogOptions,
  type LogHead,
  type ReadLogOptions,
  type ReadLogResult,
  type ReadStreamOptions,
} from './read.js';
import { sqlStatement } from './sql-template.js';
import {
  handleCommand,
  transactionHandle,
  type Decide,
  type HandleOptions,
  type HandleResult,
} from './handle.js';

/**
 * The work a unit of work can do: the caller's own SQL and appends, all in one transaction. `E` is the type of the
 * events it reads: a union discriminated by `type` when the store was created with typed `events`.
 */
export interface EventStoreTransaction<E extends StoredEvent<string, unknown> = StoredEvent> {
  /**
   * Runs the caller's SQL inside the transaction. Interpolated values are sent as parameters, never as text:
   * `` await tx.sql`update orders set status = ${status} where id = ${id}` ``.
   */
  sql<R extends object = Record<string, unknown>>(
    strings: TemplateStringsArray,
    ...values: unknown[]
  ): Promise<R[]>;
  /** Runs a parameterised statement inside the transaction. */
  query<R extends object = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
  append(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  readStream(stream: string, options?: ReadStreamOptions): Promise<E[]>;
  streamVersion(stream: string): Promise<number>;
  /**
   * One attempt of a command inside this transaction (see `EventStore.handle`): read, fold, decide, append with
   * the version read. A concurrency conflict is thrown (ExpectedVersionConflictError), not retried: the caller owns
   * the transaction, so the caller retries it as a whole. `maxRetries` does not apply here.
   */
  handle<S>(
    stream: string,
    decide: Decide<S, EventStoreTransaction<E>>,
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
 */
export interface EventStore<E extends StoredEvent<string, unknown> = StoredEvent> {
  /** The PostgreSQL schema of this store. */
  readonly schema: string;
  /** `'pg'` for a PostgreSQL server, `'pglite'` for the embedded store. */
  readonly driver: 'pg' | 'pglite';
  /** Applies pending migrations (idempotent; safe from several processes at once). */
  migrate(): Promise<MigrationResult>;
  /** Appends events to one stream atomically. */
  append(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  /** Runs `fn` in one transaction; a throw rolls back the caller's SQL and every append together. */
  transaction<T>(fn: (tx: EventStoreTransaction<E>) => Promise<T>): Promise<T>;
  /**
   * Works inside a transaction the caller opened on its own connection (a `pg` client after `BEGIN`, a PGlite
   * transaction, or an ORM's through eventlane/drizzle, eventlane/kysely or eventlane/prisma): appends commit or roll
   * back with the caller's transaction, and each one sends a NOTIFY in it that wakes relays and workers at commit.
   */
  enlist(connection: CallerTransaction): EventStoreTransaction<E>;
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
    decide: Decide<S, EventStoreTransaction<E>>,
    options: HandleOptions<S, E>,
  ): Promise<HandleResult<S, E>>;
  /** Reads the log in commit order; never skips an event whose transaction commits late. */
  readLog(options?: ReadLogOptions): Promise<ReadLogResult<E>>;
  /**
   * Iterates the log in commit order over every event committed before the call, one page in memory at a time;
   * waits (rather than stopping short) for events an older open transaction keeps unreadable.
   */
  iterateLog(options?: IterateLogOptions): AsyncIterable<E>;
  /** Where the readable end of the log is now. */
  head(): Promise<LogHead>;
  /** Server-wide figures that explain delays, e.g. the age of the oldest open transaction (see StoreHealth). */
  health(): Promise<StoreHealth>;
  /** Closes what the store opened; connections the caller handed in stay open. */
  close(): Promise<void>;
  /** @internal The database port, for eventlane's own components. */
  readonly executor: SqlExecutor;
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
const NOTIFY_CHANNEL = 'eventlane_log';
/** Quiet window after each commit NOTIFY; commits inside it are announced together at its end. */
const NOTIFY_GAP_MS = 2;

async function openDriver(options: EventStoreOptions): Promise<Driver> {
  if (options.url !== undefined) {
    const pool = createPgPool(options.url, {
      max: options.poolSize ?? 10,
      statementTimeoutMs: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
    });
    return pgPoolDriver(pool, redactUrl(options.url), true);
  }
  if (options.pool !== undefined) return pgPoolDriver(options.pool, 'the caller’s pool', false);
  if (options.client !== undefined) return pgClientDriver(options.client, 'the caller’s client');
  if (options.pglite !== undefined) return pgliteDriver(options.pglite, false);
  return pgliteDriver(await openPglite(options.dataDir), true);
}

/**
 * Opens an event store. With no `url`, `pool`, `client` or `pglite`, the store is embedded (PGlite, in memory
 * or in `dataDir`). Pending migrations are applied unless `migrate: false`.
 *
 * @example
 * const store = await createEventStore({ url: 'postgres://postgres@127.0.0.1:5432/app' });
 * await store.append('order-42', [{ type: 'order.created', data: { total: 10 } }], { expectedVersion: 'no_stream' });
 */
export function createEventStore<const Cs extends readonly AnyEventContract[]>(
  options: EventStoreOptions & { events: Cs; undeclaredEvents?: 'reject' },
): Promise<EventStore<EventsOf<Cs>>>;
export function createEventStore<const Cs extends readonly AnyEventContract[]>(
  options: EventStoreOptions & { events: Cs; undeclaredEvents: 'allow' },
): Promise<EventStore<EventsOf<Cs> | StoredEvent>>;
export function createEventStore(options?: EventStoreOptions): Promise<EventStore>;
export async function createEventStore(options: EventStoreOptions = {}): Promise<EventStore> {
  checkEventStoreOptions(options);
  const schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
  if (options.undeclaredEvents !== undefined && options.events === undefined) {
    throw new InvalidArgumentError(
      'undeclaredEvents applies to stores that declare contracts: pass `events` (defineEvent contracts) as well.',
    );
  }
  const contracts =
    options.events === undefined
      ? undefined
      : createContractRegistry(options.events, { undeclaredEvents: options.undeclaredEvents ?? 'reject' });
  const driver = await openDriver(options);
  const store = new EventStoreImpl(
    driver,
    schema,
    {
      maxEventBytes: options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
      maxAppendBytes: options.maxAppendBytes ?? DEFAULT_MAX_APPEND_BYTES,
    },
    contracts,
  );
  if (options.migrate !== false) {
    try {
      await store.migrate();
    } catch (error) {
      await driver.close().catch(() => undefined);
      throw error;
    }
  }
  return store;
}

class EventStoreImpl implements EventStore {
  readonly schema: string;
  readonly driver: 'pg' | 'pglite';
  readonly #db: Driver;
  readonly #q: string;
  readonly #limits: AppendLimits;
  readonly contracts: ContractRegistry | undefined;
  #closed = false;
  readonly #commitListeners = new Set<() => void>();
  #notifying = false;
  #notifyAgain = false;

  constructor(db: Driver, schema: string, limits: AppendLimits, contracts: ContractRegistry | undefined) {
    this.#db = db;
    this.schema = schema;
    this.driver = db.kind;
    this.#q = quoteIdent(schema);
    this.#limits = limits;
    this.contracts = contracts;
  }

  // The contract hooks. Without contracts both are a single undefined check, so the append and read paths cost
  // what they did before contracts existed.
  #append(
    executor: SqlExecutor,
    stream: string,
    events: readonly NewEvent[],
    options?: AppendOptions,
  ): Promise<AppendResult> {
    const contracts = this.contracts;
    if (contracts === undefined)
      return appendToStream(executor, this.#q, stream, events, options, this.#limits);
    let checked: readonly NewEvent[] | Promise<readonly NewEvent[]>;
    try {
      checked = contracts.validate(events);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    if (checked instanceof Promise) {
      return checked.then((valid) => appendToStream(executor, this.#q, stream, valid, options, this.#limits));
    }
    return appendToStream(executor, this.#q, stream, checked, options, this.#limits);
  }

  #upcastAll(read: Promise<StoredEvent[]>): Promise<StoredEvent[]> {
    const contracts = this.contracts;
    if (contracts === undefined) return read;
    return read.then((events) => {
      for (let i = 0; i < events.length; i++) events[i] = contracts.upcast(events[i]!);
      return events;
    });
  }

  get executor(): SqlExecutor {
    this.#open();
    return this.#db;
  }

  async onCommit(onCommit: () => void): Promise<() => Promise<void>> {
    this.#open();
    const schema = this.schema;
    this.#commitListeners.add(onCommit);
    try {
      const unlisten = await this.#db.listen(NOTIFY_CHANNEL, (payload) => {
        if (payload === schema) onCommit();
      });
      return async () => {
        this.#commitListeners.delete(onCommit);
        await unlisten();
      };
    } catch (error) {
      this.#commitListeners.delete(onCommit);
      throw error;
    }
  }

  #open(): void {
    if (this.#closed) throw new StoreClosedError();
  }

  /** `afterAppend` runs inside the transaction after each append (enlist: the NOTIFY delivered at commit). */
  #bind(
    executor: SqlExecutor,
    onAppend: () => void = () => undefined,
    afterAppend?: () => Promise<unknown>,
  ): EventStoreTransaction {
    const q = this.#q;
    const tx: EventStoreTransaction = {
      sql: (strings, ...values) => {
        const { text, params } = sqlStatement(strings, values);
        return executor.query(text, params);
      },
      query: (text, params) => executor.query(text, params),
      append: (stream, events, options) => {
        onAppend();
        const appended = this.#append(executor, stream, events, options);
        return afterAppend === undefined ? appended : appended.then((r) => afterAppend().then(() => r));
      },
      readStream: (stream, options) => this.#upcastAll(readStream(executor, q, stream, options)),
      streamVersion: (stream) => readStreamVersion(executor, q, stream),
      handle: transactionHandle(() => tx, q),
    };
    return tx;
  }

  migrate(): Promise<MigrationResult> {
    this.#open();
    return migrate(this.#db, this.schema);
  }

  append(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    this.#open();
    return this.#append(this.#db, stream, events, options).then((result) => {
      this.#announce();
      return result;
    });
  }

  transaction<T>(fn: (tx: EventStoreTransaction) => Promise<T>): Promise<T> {
    this.#open();
    if (typeof fn !== 'function') {
      return Promise.reject(new InvalidArgumentError('transaction takes a function (tx) => Promise.'));
    }
    let appended = false;
    return this.#db
      .transaction((executor) =>
        fn(
          this.#bind(executor, () => {
            appended = true;
          }),
        ),
      )
      .then((result) => {
        if (appended) this.#announce();
        return result;
      });
  }

  /**
   * Wakes relays after a commit that appended: at once in this process, and in others by a NOTIFY sent as a statement
   * of its own after the commit, at most one per NOTIFY_GAP_MS (a burst of commits costs one or two). Not a trigger on the
   * events table: a transaction that notifies takes a cluster-wide lock at commit, which serialized the appends'
   * WAL flushes and cut 8-writer single-event appends from ≈2,000/s to ≈480/s on this machine. Appends in a caller's
   * own transaction (`enlist`) cannot be announced after a commit the store does not see: they send their NOTIFY
   * inside that transaction instead, which PostgreSQL delivers at commit and drops on rollback.
   */
  #announce(): void {
    for (const listener of this.#commitListeners) listener();
    if (this.#notifying) {
      this.#notifyAgain = true;
      return;
    }
    this.#notifying = true;
    // After each NOTIFY, a short quiet window: commits inside it share one NOTIFY at its end. The first commit of
    // a burst is announced at once (latency); the rest at most every NOTIFY_GAP_MS. One NOTIFY per single-event
    // append cost about a fifth of append throughput on this machine.
    const settle = (): void => {
      setTimeout(() => {
        if (this.#notifyAgain && !this.#closed) send();
        else this.#notifying = false;
      }, NOTIFY_GAP_MS).unref();
    };
    const send = (): void => {
      this.#notifyAgain = false;
      this.#db.query('select pg_notify($1, $2)', [NOTIFY_CHANNEL, this.schema]).then(settle, settle);
    };
    send();
  }

  enlist(connection: CallerTransaction): EventStoreTransaction {
    this.#open();
    if (typeof connection !== 'object' || connection === null || typeof connection.query !== 'function') {
      throw new InvalidArgumentError(
        'enlist takes a pg client, a PGlite transaction or an ORM adapter’s connection, in a transaction the caller opened.',
      );
    }
    const executor =
      'exec' in connection
        ? pgliteTransactionExecutor(connection)
        : pgClientExecutor(connection as Pick<pg.ClientBase, 'query'>);
    const notify = (): Promise<unknown> =>
      executor.query('select 1 as notified from (select pg_notify($1, $2)) n', [NOTIFY_CHANNEL, this.schema]);
    return this.#bind(executor, undefined, notify);
  }

  readStream(stream: string, options?: ReadStreamOptions): Promise<StoredEvent[]> {
    this.#open();
    return this.#upcastAll(readStream(this.#db, this.#q, stream, options));
  }

  streamVersion(stream: string): Promise<number> {
    this.#open();
    return readStreamVersion(this.#db, this.#q, stream);
  }

  handle<S>(
    stream: string,
    decide: Decide<S, EventStoreTransaction>,
    options: HandleOptions<S, StoredEvent>,
  ): Promise<HandleResult<S, StoredEvent>> {
    this.#open();
    return handleCommand((fn) => this.transaction(fn), this.#q, stream, decide, options);
  }

  readLog(options?: ReadLogOptions): Promise<ReadLogResult> {
    this.#open();
    const read = readLog(this.#db, this.#q, options);
    const contracts = this.contracts;
    if (contracts === undefined) return read;
    return read.then((r) => ({ ...r, events: r.events.map((e) => contracts.upcast(e)) }));
  }

  iterateLog(options?: IterateLogOptions): AsyncIterable<StoredEvent> {
    this.#open();
    const contracts = this.contracts;
    return iterateLog(
      this.#db,
      this.#q,
      options,
      contracts === undefined ? undefined : (e) => contracts.upcast(e),
    );
  }

  head(): Promise<LogHead> {
    this.#open();
    return readHead(this.#db, this.#q);
  }

  health(): Promise<StoreHealth> {
    this.#open();
    return readStoreHealth(this.#db, this.driver);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#db.close();
  }
}
