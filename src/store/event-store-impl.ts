import type pg from 'pg';
import type { Registry } from 'prom-client';
import { InvalidArgumentError, StoreClosedError } from '../errors.js';
import type { NewEvent, StoredEvent } from '../events/envelope.js';
import type { ContractRegistry } from '../contracts/registry.js';
import {
  appendToStream,
  appendWithOutcome,
  type AppendLimits,
  type AppendOptions,
  type AppendOutcome,
  type AppendResult,
} from './append.js';
import { SealedAppends } from './sealed-append.js';
import type { PersonalFields } from '../contracts/types.js';
import { closeStream, type CloseStreamOptions, type CloseStreamResult } from './close-stream.js';
import { personalTypes, revealEvents, unreadableError } from './personal-data.js';
import { appendMetrics, appendRecorder, type AppendMetrics, type AppendRecorder } from './append-metrics.js';
import type { Driver, SqlExecutor } from './drivers/driver.js';
import { pgClientExecutor } from './drivers/pg.js';
import { pgliteTransactionExecutor } from './drivers/pglite.js';
import { readStoreHealth, type StoreHealth } from './health.js';
import { migrate, type MigrationResult } from './migrate.js';
import { quoteIdent } from './names.js';
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
  retryCommand,
  transactionHandle,
  type Decide,
  type HandleOptions,
  type HandleResult,
} from './handle.js';
import { handleDirectOnce, type DirectCommandStore } from './handle-direct.js';
import { personalFieldsCacheError } from './state-cache.js';
import { CommitAnnouncer } from './commit-announcer.js';

import type { CallerTransaction, EventStore, EventStoreTransaction } from './event-store-types.js';

/** The store behind `createEventStore` (event-store.ts). */
export class EventStoreImpl implements EventStore {
  readonly schema: string;
  readonly driver: 'pg' | 'pglite';
  readonly #db: Driver;
  readonly #q: string;
  readonly #limits: AppendLimits;
  readonly contracts: ContractRegistry | undefined;
  /** Whether some contract declares personal fields: their appends are sealed, command handling goes transactional. */
  readonly #personal: boolean;
  readonly #sealed: SealedAppends;
  /** What `handle` needs of the store (see handle-direct.ts). */
  readonly #commands: DirectCommandStore;
  readonly logArchive: LogArchive;
  #closed = false;
  readonly #commits: CommitAnnouncer;
  readonly #metricSinks = new Set<AppendMetrics>();
  /** Set by registerMetrics; undefined keeps the append path free of timers and counters. */
  #record: AppendRecorder | undefined;

  constructor(
    db: Driver,
    schema: string,
    limits: AppendLimits,
    contracts: ContractRegistry | undefined,
    archiveDir: string | undefined,
  ) {
    this.#db = db;
    this.schema = schema;
    this.#commits = new CommitAnnouncer(db, schema, () => this.#closed);
    this.driver = db.kind;
    this.#q = quoteIdent(schema);
    this.logArchive = createLogArchive(this.#q, archiveDir);
    this.#limits = limits;
    this.contracts = contracts;
    const personal = personalTypes(contracts?.list());
    this.#personal = personal !== undefined;
    this.#sealed = new SealedAppends(
      personal ?? new Map<string, PersonalFields>(),
      db,
      this.#q,
      this.#limits,
    );
    this.#commands = {
      schemaQ: this.#q,
      executor: db,
      transaction: (fn) => this.#transaction(fn),
      append: (executor, stream, events, options) =>
        this.#appendWithOutcome(executor, stream, events, options),
      upcast: (event) => (contracts === undefined ? event : contracts.upcast(event)),
      announce: () => this.#announce(),
      archive: this.logArchive,
    };
  }

  // The contract hooks. Without contracts both are a single undefined check, so the append and read paths cost
  // what they did before contracts existed.
  #append(
    executor: SqlExecutor,
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions | undefined,
    ownTransaction: boolean,
  ): Promise<AppendResult> {
    const record = this.#record;
    if (record === undefined) return this.#appendChecked(executor, stream, events, options, ownTransaction);
    return record(() => this.#appendChecked(executor, stream, events, options, ownTransaction));
  }

  #appendChecked(
    executor: SqlExecutor,
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions | undefined,
    ownTransaction: boolean,
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
    const write = (valid: readonly NewEvent[]): Promise<AppendResult> =>
      !this.#personal
        ? appendToStream(executor, this.#q, stream, valid, options, this.#limits)
        : this.#sealed.append(executor, stream, valid, options, ownTransaction);
    if (checked instanceof Promise) return checked.then(write);
    return write(checked);
  }

  /**
   * `#append` for command handling: also what was sent (as validated) and when it was recorded. Only for stores
   * without personal fields (`handle` takes the transactional path for the others, which seals and reveals).
   */
  async #appendWithOutcome(
    executor: SqlExecutor,
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions,
  ): Promise<{ outcome: AppendOutcome; events: readonly NewEvent[] }> {
    const valid = this.contracts === undefined ? events : await this.contracts.validate(events);
    const outcome = await appendWithOutcome(executor, this.#q, stream, valid, options, this.#limits);
    return { outcome, events: valid };
  }

  /** Decrypts personal fields (or erases them for forgotten subjects), then upcasts. */
  async #finish(
    executor: Pick<SqlExecutor, 'query'>,
    events: StoredEvent[],
    mode: 'throw' | 'mark',
  ): Promise<StoredEvent[]> {
    const revealed = await revealEvents(executor, this.#q, events, mode);
    const contracts = this.contracts;
    if (contracts === undefined) return revealed;
    for (let i = 0; i < revealed.length; i++) {
      // An event marked unreadable keeps its stored data: its consumer parks it before any upcaster sees it.
      if (unreadableError(revealed[i]!) === undefined) revealed[i] = contracts.upcast(revealed[i]!);
    }
    return revealed;
  }

  reveal(events: StoredEvent[], mode: 'throw' | 'mark' = 'mark'): Promise<StoredEvent[]> {
    this.#open();
    return revealEvents(this.#db, this.#q, events, mode);
  }

  registerMetrics(registry: Registry): void {
    if (typeof registry !== 'object' || registry === null || typeof registry.metrics !== 'function') {
      throw new InvalidArgumentError(
        'registerMetrics takes a prom-client Registry, e.g. processRegistry() from eventlane/ops.',
      );
    }
    this.#metricSinks.add(appendMetrics(registry));
    this.#record ??= appendRecorder(this.schema, this.#metricSinks);
  }

  get executor(): SqlExecutor {
    this.#open();
    return this.#db;
  }

  onCommit(onCommit: () => void): Promise<() => Promise<void>> {
    this.#open();
    return this.#commits.listen(onCommit);
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
      query: (text, params, options) => executor.query(text, params, options),
      append: (stream, events, options) => {
        onAppend();
        const appended = this.#append(executor, stream, events, options, false);
        return afterAppend === undefined ? appended : appended.then((r) => afterAppend().then(() => r));
      },
      readStream: (stream, options) =>
        readStream(executor, q, stream, options, this.logArchive).then((events) =>
          this.#finish(executor, events, options?.unreadable === 'mark' ? 'mark' : 'throw'),
        ),
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
    return this.#append(this.#db, stream, events, options, true).then((result) => {
      this.#announce();
      return result;
    });
  }

  transaction<T>(fn: (tx: EventStoreTransaction) => Promise<T>): Promise<T> {
    this.#open();
    if (typeof fn !== 'function') {
      return Promise.reject(new InvalidArgumentError('transaction takes a function (tx) => Promise.'));
    }
    return this.#transaction((tx) => fn(tx));
  }

  /** A transaction with its bound object and its executor; announces after a commit that appended. */
  #transaction<T>(fn: (tx: EventStoreTransaction, executor: SqlExecutor) => Promise<T>): Promise<T> {
    let appended = false;
    return this.#db
      .transaction((executor) =>
        fn(
          this.#bind(executor, () => {
            appended = true;
          }),
          executor,
        ),
      )
      .then((result) => {
        if (appended) this.#announce();
        return result;
      });
  }

  /** Wakes relays and workers after a commit that appended (commit-announcer.ts). */
  #announce(): void {
    this.#commits.announce();
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
    return this.#bind(executor, undefined, () => this.#commits.notifyWithin(executor));
  }

  readStream(stream: string, options?: ReadStreamOptions): Promise<StoredEvent[]> {
    this.#open();
    return readStream(this.#db, this.#q, stream, options, this.logArchive).then((events) =>
      this.#finish(this.#db, events, options?.unreadable === 'mark' ? 'mark' : 'throw'),
    );
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
    // Personal fields are sealed on append and revealed on read inside a transaction of the store's own.
    if (this.#personal) {
      if (options?.cache !== undefined) return Promise.reject(personalFieldsCacheError());
      return handleCommand((fn) => this.transaction(fn), this.#q, stream, decide, options);
    }
    return retryCommand(stream, decide, options, (attempt) =>
      handleDirectOnce(this.#commands, stream, decide, options, attempt),
    );
  }

  readLog(options?: ReadLogOptions): Promise<ReadLogResult> {
    this.#open();
    const mode = options?.unreadable === 'mark' ? 'mark' : 'throw';
    return readLog(this.#db, this.#q, options, this.logArchive).then(async (r) => ({
      ...r,
      events: await this.#finish(this.#db, r.events, mode),
    }));
  }

  iterateLog(options?: IterateLogOptions): AsyncIterable<StoredEvent> {
    this.#open();
    return iterateLog(
      this.#db,
      this.#q,
      options,
      (events) => this.#finish(this.#db, events, 'throw'),
      this.logArchive,
    );
  }

  closeStream(stream: string, options?: CloseStreamOptions): Promise<CloseStreamResult> {
    this.#open();
    return closeStream(
      this.#db,
      this.#q,
      stream,
      options,
      (ex, final, appendOptions) => this.#append(ex, stream, final, appendOptions, false),
      this.#limits,
    ).then((result) => {
      this.#announce();
      return result;
    });
  }

  forget(subject: string): Promise<{ subject: string; forgotten: boolean }> {
    this.#open();
    return this.#sealed.forget(subject);
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
