import { Gauge, type Registry } from 'prom-client';
import { checkVersionedProjection, type ProjectionDefinition } from '../consumers/define.js';
import { InvalidArgumentError, UnknownConsumerError, WorkerStateError } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';
import type { Driver, SqlExecutor } from '../store/drivers/driver.js';
import type { EventStore, EventStoreTransaction } from '../store/event-store.js';
import { checkSchemaName, compareCheckpoints, LOG_START, quoteIdent } from '../store/names.js';
import { checkDrift, type DriftReport } from './drift.js';
import { lagAfter, readCommittedAfter } from './log.js';
import { readVersion, registerDefinitions, type DbProjectionVersion } from './registry.js';
import { applyEvents, dropTables, pointViews, tableMap } from './tables.js';

export interface ProjectionsOptions {
  /** The versioned read models to run (defineProjection with `tables`). Names must be unique. */
  projections: readonly ProjectionDefinition[];
  /** The PostgreSQL schema of the read-model tables and their stable views. @defaultValue 'public' */
  schema?: string;
  /**
   * Events read per page and handed to one transaction (one batch-handler call). Larger pages mean fewer
   * round trips and commits during a rebuild; the bench chose 5,000. @defaultValue 5000
   */
  pageSize?: number;
  /** A building version switches live once a page brings fewer events than this. @defaultValue 1000 */
  switchLag?: number;
  /** How long a retired version's tables are kept after the switch before they are dropped. @defaultValue 600000 (10 min) */
  graceMs?: number;
  /** Rebuild throttle: at most this many events per second per projection. @defaultValue no limit */
  maxEventsPerSecond?: number;
  /** Wait between reads when a projection is caught up. @defaultValue 50 */
  pollMs?: number;
  /** Called when a run step fails (it is retried after `pollMs` × 20). @defaultValue ignore */
  onError?: (error: Error, projection: string) => void;
}

export interface ProjectionProgress {
  name: string;
  version: number;
  status: 'building' | 'live' | 'retired' | 'dropped' | 'unknown';
  /** Events applied to this version so far (all runs, from its checkpoint row). */
  done: number;
  /** Events in the log when this run measured it (done + what was behind the checkpoint then). */
  total: number;
  /** Events per second applied by this process over its run. */
  rate: number;
  /** Estimated milliseconds to catch up; null when the rate is unknown. */
  etaMs: number | null;
  checkpoint: string;
}

export interface Projections {
  /** Registers versions, creates their tables and starts building / running async projections. */
  start(): Promise<void>;
  /** Stops after the page in progress; its work commits or rolls back whole. */
  stop(): Promise<void>;
  /** The store to append through so that inline projections run in each append's transaction. */
  readonly store: EventStore;
  progress(name: string): ProjectionProgress;
  /** Resolves when the defined version of `name` is live and caught up to the head seen at the call. */
  waitLive(name: string, timeoutMs?: number): Promise<void>;
  /** Drops retired versions of `name` now, whatever the grace period. Returns the versions dropped. */
  dropRetired(name: string): Promise<number[]>;
  /** Builds the live version from history into a shadow copy and compares it with the live tables. */
  checkDrift(name: string, options?: { maxKeys?: number }): Promise<DriftReport>;
  /** Registers lag gauges (events and seconds behind the head, per projection and version). */
  registerMetrics(registry: Registry): void;
}

class Stopped extends Error {}

interface RunState {
  def: ProjectionDefinition;
  checkpoint: string;
  done: number;
  total: number;
  startedAt: number;
  appliedThisRun: number;
  status: ProjectionProgress['status'];
}

export function createProjections(store: EventStore, options: ProjectionsOptions): Projections {
  if (typeof options !== 'object' || options === null || !Array.isArray(options.projections)) {
    throw new InvalidArgumentError('createProjections takes { projections: [defineProjection(…), …] }.');
  }
  // Checked again here, as defineProjection checks them: a definition may be built by hand or copied and changed.
  const projections = (options.projections as readonly unknown[]).map((p, i) =>
    checkVersionedProjection(p, `createProjections: projections[${i}]`),
  );
  return new ProjectionsImpl(store, { ...options, projections });
}

function positive(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new InvalidArgumentError(
      `${name} must be a number > 0, got ${typeof value === 'number' ? value : JSON.stringify(value)}.`,
      { [name]: value },
    );
  }
  return value;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class ProjectionsImpl implements Projections {
  readonly #base: EventStore;
  readonly #db: Driver;
  readonly #q: string;
  readonly #schema: string;
  readonly #defs: readonly ProjectionDefinition[];
  readonly #pageSize: number;
  readonly #switchLag: number;
  readonly #graceMs: number;
  readonly #maxRate: number;
  readonly #pollMs: number;
  readonly #onError: (error: Error, projection: string) => void;
  readonly #state = new Map<string, RunState>();
  #loops: Promise<void>[] = [];
  #running = false;
  #stopping = false;
  readonly store: EventStore;

  constructor(store: EventStore, options: ProjectionsOptions) {
    this.#base = store;
    this.#db = store.executor as Driver;
    this.#q = quoteIdent(store.schema);
    this.#schema = checkSchemaName(options.schema ?? 'public');
    this.#defs = [...options.projections];
    this.#pageSize = Math.floor(positive(options.pageSize, 'pageSize', 5000));
    this.#switchLag = positive(options.switchLag, 'switchLag', 1000);
    this.#graceMs = options.graceMs === 0 ? 0 : positive(options.graceMs, 'graceMs', 600_000);
    this.#maxRate = positive(options.maxEventsPerSecond, 'maxEventsPerSecond', Infinity);
    this.#pollMs = positive(options.pollMs, 'pollMs', 50);
    this.#onError = options.onError ?? (() => undefined);
    this.store = this.#inlineStore();
  }

  #def(name: string): ProjectionDefinition {
    const def = this.#defs.find((d) => d.name === name);
    if (def === undefined)
      throw new UnknownConsumerError(
        name,
        this.#defs.map((d) => d.name),
      );
    return def;
  }

  async start(): Promise<void> {
    if (this.#running) throw new WorkerStateError('createProjections(…).start() was called twice.');
    await registerDefinitions(this.#db, this.#q, this.#schema, this.#defs);
    this.#running = true;
    for (const def of this.#defs) {
      const row = await readVersion(this.#db, this.#q, def.name, def.version);
      const lag = await lagAfter(this.#base, row!.checkpoint);
      const done = Number(row!.applied);
      this.#state.set(def.name, {
        def,
        checkpoint: row!.checkpoint,
        done,
        total: done + lag.events,
        startedAt: Date.now(),
        appliedThisRun: 0,
        status: row!.status,
      });
      this.#loops.push(this.#loop(def));
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#loops);
    this.#loops = [];
    this.#running = false;
    this.#stopping = false;
  }

  async #loop(def: ProjectionDefinition): Promise<void> {
    while (!this.#stopping) {
      try {
        await this.#step(def);
      } catch (error) {
        if (error instanceof Stopped) return;
        this.#onError(error as Error, def.name);
        await this.#sleep(this.#pollMs * 20);
      }
    }
  }

  async #sleep(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (this.#stopping) throw new Stopped();
      await sleep(Math.min(50, until - Date.now()));
    }
  }

  /**
   * One pass: read pages and apply them until caught up (reading the next page while the current one is being
   * applied), then switch a building version live, drop expired retired versions, and wait for new events.
   */
  async #step(def: ProjectionDefinition): Promise<void> {
    const state = this.#state.get(def.name)!;
    const row = await readVersion(this.#db, this.#q, def.name, def.version);
    if (row === undefined || row.status === 'retired' || row.status === 'dropped') {
      // A newer version took over (another deploy): this process has nothing left to do for it.
      state.status = row?.status ?? 'unknown';
      await this.#sleep(this.#pollMs * 20);
      return;
    }
    state.status = row.status;
    state.checkpoint = row.checkpoint;
    state.done = Number(row.applied);
    const inlineLive = def.mode === 'inline' && row.status === 'live';
    if (!inlineLive) {
      let next = this.#base.readLog({ after: state.checkpoint, limit: this.#pageSize });
      for (;;) {
        const page = await next;
        if (page.events.length === this.#pageSize) {
          next = this.#base.readLog({ after: page.checkpoint, limit: this.#pageSize });
        }
        if (page.events.length > 0) {
          await this.#applyPage(def, state, page.events, page.checkpoint);
          await this.#throttle(state);
        }
        // A short page means the reader is at the readable head; the lag count also includes events committed
        // but not yet readable (a long transaction elsewhere holds the head back), so a version never goes live
        // far behind what has been committed. Only short pages pay for the count, which scans the rest of the log.
        if (
          page.events.length < Math.min(this.#switchLag, this.#pageSize) &&
          row.status === 'building' &&
          (await lagAfter(this.#base, state.checkpoint)).events < this.#switchLag
        ) {
          await this.#switch(def, state);
          state.status = 'live';
          break;
        }
        if (page.events.length < this.#pageSize) break;
        if (this.#stopping) throw new Stopped();
      }
    }
    await this.#dropExpired(def);
    await this.#sleep(inlineLive ? this.#pollMs * 20 : this.#pollMs);
  }

  async #throttle(state: RunState): Promise<void> {
    if (this.#maxRate === Infinity) return;
    const due = state.startedAt + (state.appliedThisRun / this.#maxRate) * 1000;
    if (due > Date.now()) await this.#sleep(due - Date.now());
  }

  /**
   * Applies one page and moves the version's checkpoint in the same transaction. The row lock and the checkpoint
   * comparison fence out a second process building the same version: its page then rolls back and it re-reads.
   */
  async #applyPage(
    def: ProjectionDefinition,
    state: RunState,
    events: readonly StoredEvent[],
    checkpoint: string,
  ): Promise<void> {
    const tables = tableMap(def, this.#schema, def.version);
    const moved = await this.#db.transaction(async (ex) => {
      const row = await readVersion(ex, this.#q, def.name, def.version, 'for update');
      if (row === undefined || row.checkpoint !== state.checkpoint) return false;
      await applyEvents(def, ex, tables, events);
      await ex.query(
        `update ${this.#q}.projections set checkpoint = $3, applied = applied + $4, updated_at = now()
          where name = $1 and version = $2`,
        [def.name, def.version, checkpoint, events.length],
      );
      return true;
    });
    if (!moved) throw new Error(`projection ${def.name} v${def.version} was moved by another process`);
    state.checkpoint = checkpoint;
    state.done += events.length;
    state.appliedThisRun += events.length;
    if (state.done > state.total) state.total = state.done;
  }

  /**
   * Makes the building version live in one transaction: views switched with `create or replace view`, the old
   * live version marked retired. For an inline projection the row lock held here is the one every inline append
   * takes first, so the events committed since the last page are applied here, with nothing in flight.
   */
  async #switch(def: ProjectionDefinition, state: RunState): Promise<void> {
    const tables = tableMap(def, this.#schema, def.version);
    await this.#db.transaction(async (ex) => {
      const row = await readVersion(ex, this.#q, def.name, def.version, 'for update');
      if (row === undefined || row.checkpoint !== state.checkpoint || row.status !== 'building') {
        throw new Error(`projection ${def.name} v${def.version} was moved by another process`);
      }
      let checkpoint = row.checkpoint;
      let applied = 0;
      if (def.mode === 'inline') {
        for (;;) {
          const events = await readCommittedAfter(this.#base, ex, checkpoint, this.#pageSize);
          if (events.length === 0) break;
          await applyEvents(def, ex, tables, events);
          checkpoint = events[events.length - 1]!.checkpoint;
          applied += events.length;
        }
      }
      await ex.query(
        `update ${this.#q}.projections set status = 'retired', retired_at = now(), updated_at = now()
          where name = $1 and status = 'live'`,
        [def.name],
      );
      await ex.query(
        `update ${this.#q}.projections set status = 'live', live_at = now(), updated_at = now(),
                checkpoint = $3, applied = applied + $4
          where name = $1 and version = $2`,
        [def.name, def.version, checkpoint, applied],
      );
      await pointViews(ex, def, this.#schema, def.version);
      state.checkpoint = checkpoint;
      state.done += applied;
    });
  }

  async #dropExpired(def: ProjectionDefinition): Promise<void> {
    const rows = await this.#db.query<DbProjectionVersion>(
      `select version, tables, read_schema from ${this.#q}.projections
        where name = $1 and status = 'retired' and retired_at < now() - make_interval(secs => $2)`,
      [def.name, this.#graceMs / 1000],
    );
    for (const r of rows) await this.#dropVersion(def.name, r);
  }

  async #dropVersion(name: string, r: DbProjectionVersion): Promise<void> {
    await this.#db.transaction(async (ex) => {
      await dropTables(ex, { tables: r.tables }, r.read_schema, r.version);
      await ex.query(
        `update ${this.#q}.projections set status = 'dropped', updated_at = now()
          where name = $1 and version = $2 and status = 'retired'`,
        [name, r.version],
      );
    });
  }

  async dropRetired(name: string): Promise<number[]> {
    this.#def(name);
    const rows = await this.#db.query<DbProjectionVersion>(
      `select version, tables, read_schema from ${this.#q}.projections where name = $1 and status = 'retired'`,
      [name],
    );
    for (const r of rows) await this.#dropVersion(name, r);
    return rows.map((r) => r.version);
  }

  progress(name: string): ProjectionProgress {
    const def = this.#def(name);
    const s = this.#state.get(name);
    if (s === undefined) {
      return {
        name,
        version: def.version,
        status: 'unknown',
        done: 0,
        total: 0,
        rate: 0,
        etaMs: null,
        checkpoint: LOG_START,
      };
    }
    const seconds = (Date.now() - s.startedAt) / 1000;
    const rate = seconds > 0 ? s.appliedThisRun / seconds : 0;
    const left = Math.max(0, s.total - s.done);
    return {
      name,
      version: def.version,
      status: s.status,
      done: s.done,
      total: s.total,
      rate,
      etaMs: left === 0 ? 0 : rate > 0 ? (left / rate) * 1000 : null,
      checkpoint: s.checkpoint,
    };
  }

  async waitLive(name: string, timeoutMs = 60_000): Promise<void> {
    const def = this.#def(name);
    const head = (await this.#base.head()).checkpoint;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = await readVersion(this.#db, this.#q, name, def.version);
      if (row?.status === 'live' && (def.mode === 'inline' || compareCheckpoints(row.checkpoint, head) >= 0))
        return;
      if (Date.now() > deadline) {
        throw new WorkerStateError(
          `Projection ${JSON.stringify(name)} v${def.version} was not live and caught up within ${timeoutMs} ms ` +
            `(status ${row?.status ?? 'unregistered'}, checkpoint ${row?.checkpoint ?? '-'}, head ${head}).`,
        );
      }
      await sleep(20);
    }
  }

  checkDrift(name: string, options: { maxKeys?: number } = {}): Promise<DriftReport> {
    return checkDrift(this.#base, this.#def(name), this.#schema, options);
  }

  registerMetrics(registry: Registry): void {
    const read = async (): Promise<{ name: string; version: number; events: number; seconds: number }[]> => {
      const rows = await this.#db.query<DbProjectionVersion>(
        `select name, version, status, mode, checkpoint from ${this.#q}.projections
          where status in ('building', 'live') and name = any($1)`,
        [this.#defs.map((d) => d.name)],
      );
      const out = [];
      for (const r of rows) {
        const lag =
          r.mode === 'inline' && r.status === 'live'
            ? { events: 0, seconds: 0 }
            : await lagAfter(this.#base, r.checkpoint);
        out.push({ name: r.name, version: r.version, ...lag });
      }
      return out;
    };
    new Gauge({
      name: 'eventlane_projection_lag_events',
      help: 'Events in the log after the checkpoint of a projection version (building or live).',
      labelNames: ['projection', 'version'],
      registers: [registry],
      async collect() {
        for (const l of await read()) this.set({ projection: l.name, version: String(l.version) }, l.events);
      },
    });
    new Gauge({
      name: 'eventlane_projection_lag_seconds',
      help: 'Age of the oldest event a projection version has not applied yet; 0 when caught up.',
      labelNames: ['projection', 'version'],
      registers: [registry],
      async collect() {
        for (const l of await read()) this.set({ projection: l.name, version: String(l.version) }, l.seconds);
      },
    });
  }

  /**
   * The store seen through inline projections: every append (alone or in `transaction`) also runs the inline
   * projections whose defined version is live, in the same transaction. A handler that throws rolls back the
   * append with it. Each inline append first takes a share lock on the version's row, which the switch of a
   * rebuild takes exclusively: a switch never misses an append in flight.
   */
  #inlineStore(): EventStore {
    const inline = this.#defs.filter((d) => d.mode === 'inline');
    const base = this.#base;
    if (inline.length === 0) return base;
    const q = this.#q;
    const schema = this.#schema;
    const wrap = (tx: EventStoreTransaction): EventStoreTransaction => ({
      ...tx,
      append: async (stream, events, appendOptions) => {
        const rows = await tx.query<{ name: string; version: number; status: string }>(
          `select name, version, status from ${q}.projections
            where name = any($1) and version = any($2) for share`,
          [inline.map((d) => d.name), inline.map((d) => d.version)],
        );
        const result = await tx.append(stream, events, appendOptions);
        if (result.duplicate) return result;
        const live = inline.filter((d) =>
          rows.some((r) => r.name === d.name && r.version === d.version && r.status === 'live'),
        );
        if (live.length === 0) return result;
        const stored = await tx.readStream(stream, {
          from: result.positions[0]!,
          limit: result.positions.length,
        });
        const ex: Pick<SqlExecutor, 'query'> = { query: (text, params) => tx.query(text, params) };
        for (const d of live) await applyEvents(d, ex, tableMap(d, schema, d.version), stored);
        return result;
      },
    });
    // Explicit delegation: the store keeps its state in private fields, so a prototype-based proxy would break.
    const store: EventStore = {
      get schema() {
        return base.schema;
      },
      get driver() {
        return base.driver;
      },
      get executor() {
        return base.executor;
      },
      get contracts() {
        return base.contracts;
      },
      migrate: () => base.migrate(),
      append: (stream, events, o) => base.transaction((tx) => wrap(tx).append(stream, events, o)),
      transaction: (fn) => base.transaction((tx) => fn(wrap(tx))),
      enlist: (connection) => wrap(base.enlist(connection)),
      readStream: (stream, o) => base.readStream(stream, o),
      streamVersion: (stream) => base.streamVersion(stream),
      readLog: (o) => base.readLog(o),
      iterateLog: (o) => base.iterateLog(o),
      head: () => base.head(),
      onCommit: (listener) => base.onCommit(listener),
      close: () => base.close(),
    };
    return store;
  }
}
