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
import type { LogArchive } from './log-archive.js';
import { createLogArchive } from '../retention/read-through.js';
import {
  handleCommand,
  transactionHandle,
  type Decide,
  type HandleOptions,
  type HandleResult,
} from './handle.js';

export type {
  CallerTransaction,
  EventStore,
  EventStoreTransaction,
  TransactionConnection,
} from './event-store-types.js';
import type { CallerTransaction, EventStore, EventStoreTransaction } from './event-store-types.js';

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
    options.archive?.dir,
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
  readonly logArchive: LogArchive;
  #closed = false;
  readonly #commitListeners = new Set<() => void>();
  #notifying = false;
  #notifyAgain = false;

  constructor(
    db: Driver,
    schema: string,
    limits: AppendLimits,
    contracts: ContractRegistry | undefined,
    archiveDir: string | undefined,
  ) {
    this.#db = db;
    this.schema = schema;
    this.driver = db.kind;
    this.#q = quoteIdent(schema);
    this.logArchive = createLogArchive(this.#q, archiveDir);
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
      readStream: (stream, options) =>
        this.#upcastAll(readStream(executor, q, stream, options, this.logArchive)),
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
    return this.#upcastAll(readStream(this.#db, this.#q, stream, options, this.logArchive));
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
    const read = readLog(this.#db, this.#q, options, this.logArchive);
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
      this.logArchive,
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
