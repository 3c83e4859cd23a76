import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Gauge, type Registry } from 'prom-client';
import type { ParkedEvent } from '../consumers/admin.js';
import type { RetryOptions } from '../consumers/backoff.js';
import type { BreakerOptions } from '../consumers/breaker.js';
import type { ConsumerStats } from '../consumers/stats.js';
import { checkVersionedProjection, type ProjectionDefinition } from '../consumers/define.js';
import { checkDuration, checkPositiveInt } from '../bus/options.js';
import { resolveBreaker, resolveRetry } from '../consumers/options.js';
import {
  describeValue,
  InvalidArgumentError,
  safeCallback,
  UnknownConsumerError,
  WorkerStateError,
} from '../errors.js';
import type { Driver } from '../store/drivers/driver.js';
import type { EventStore } from '../store/event-store.js';
import { checkSchemaName, compareCheckpoints, quoteIdent } from '../store/names.js';
import { MAX_READ_LOG_LIMIT } from '../store/read.js';
import { checkDrift, type DriftReport } from './drift.js';
import { failureKey, retryParked, skipFailing } from './failures.js';
import { lagAfter } from './log.js';
import { toProgress, type ProjectionProgress, type RunState } from './progress.js';
import { readVersion, registerDefinitions, type DbProjectionVersion } from './registry.js';
import { inlineStore } from './inline.js';
import { dropVersion, ProjectionRun } from './run-loop.js';

export type { ProjectionFailure, ProjectionProgress } from './progress.js';

export interface ProjectionsOptions {
  /** The versioned read models to run (defineProjection with `tables`). Names must be unique. */
  projections: readonly ProjectionDefinition[];
  /** The PostgreSQL schema of the read-model tables and their stable views. @defaultValue 'public' */
  schema?: string;
  /**
   * Events read per page and handed to one transaction (one batch-handler call). Larger pages mean fewer
   * round trips and commits during a rebuild; the bench chose 5,000. At most 10,000 (readLog's limit).
   * @defaultValue 5000
   */
  pageSize?: number;
  /** A building version switches live once a page brings fewer events than this. @defaultValue 1000 */
  switchLag?: number;
  /**
   * How long a retired version's tables are kept after the switch before they are dropped; 0 to 2^31 − 1 ms.
   * @defaultValue 600000 (10 min)
   */
  graceMs?: number;
  /**
   * Throttle: at most this many events per second per projection. A building version is built by a `rebuild`
   * replay job created with this rate (change it on the running job with `createReplay(…).setRate`).
   * @defaultValue no limit
   */
  maxEventsPerSecond?: number;
  /** Wait between reads when a projection is caught up, in whole milliseconds up to 2^31 − 1. @defaultValue 50 */
  pollMs?: number;
  /**
   * Retries of a failing event before it is parked, with exponential backoff and jitter (as `createWorker`'s).
   * The version stops right before the failing event until it applies, is retried by an operator, or skipped.
   * @defaultValue { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 30000, jitter: 0.5 }
   */
  retry?: Partial<RetryOptions>;
  /**
   * The retry-storm breaker, per projection and process: past `threshold` failures within `windowMs`, attempts
   * pause for `coolDownMs`, then one probe decides. @defaultValue { threshold: 50, windowMs: 10000, coolDownMs: 30000 }
   */
  breaker?: Partial<BreakerOptions>;
  /**
   * How often a stalled projection looks for an operator's retry or skip (from any process). Shorter reacts sooner
   * at one small query per interval while stalled. @defaultValue 1000
   */
  parkedPollMs?: number;
  /**
   * Called with each failed attempt of an event (the handler's error) and each failing step (database errors;
   * retried after `pollMs` × 20). @defaultValue ignore
   */
  onError?: (error: Error, projection: string) => void;
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
  /**
   * Operator retry of the parked event the defined version of `name` is stopped at: attempts start again, now.
   * Throws `EVENTLANE_WORKER_STATE` when nothing is parked.
   */
  retry(name: string): Promise<ParkedEvent>;
  /**
   * Operator skip of the failing event (parked or retrying) the defined version of `name` is stopped at: the version
   * moves past it without applying it; the skip is recorded with `by` and `reason`.
   */
  skip(name: string, options: { by: string; reason?: string }): Promise<ParkedEvent>;
}

/**
 * Runs versioned projections on their own.
 *
 * @deprecated Pass versioned projections to `createWorker(store, { from: 'log', consumers: [...] })` with the
 * reactors and handler-only projections: one process, one start/stop, one `health()`, one metrics registry. The
 * worker runs them on this same engine; its `projections` offers `progress`, `waitLive`, `retry`, `skip`,
 * `checkDrift` and `dropRetired`, and its `store` the inline projections. See docs/projections.md.
 */
export function createProjections(store: EventStore, options: ProjectionsOptions): Projections {
  if (typeof options !== 'object' || options === null || !Array.isArray(options.projections)) {
    throw new InvalidArgumentError('createProjections takes { projections: [defineProjection(…), …] }.');
  }
  // Checked again here, as defineProjection checks them: a definition may be built by hand or copied and changed.
  const projections = (options.projections as readonly unknown[]).map((p, i) =>
    checkVersionedProjection(p, `createProjections: projections[${i}]`),
  );
  return projectionRunner(store, { ...options, projections });
}

/** What a runner hands to whoever runs it (the worker): its counters per projection. */
export interface RunnerHooks {
  /** The worker's counters of a projection (applied, failed attempts, retries, parkings). */
  stats?: (name: string) => ConsumerStats | undefined;
}

/** The engine behind createWorker's versioned projections (and createProjections), on checked definitions. */
export function projectionRunner(
  store: EventStore,
  options: ProjectionsOptions,
  hooks: RunnerHooks = {},
): Projections {
  return new ProjectionsImpl(store, options, hooks);
}

function positive(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new InvalidArgumentError(`${name} must be a number > 0, got ${describeValue(value)}.`, {
      [name]: value,
    });
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
  readonly #parkedPollMs: number;
  readonly #retry: RetryOptions;
  readonly #breaker: BreakerOptions;
  readonly #onError: (error: Error, projection: string) => void;
  readonly #state = new Map<string, RunState>();
  readonly #runs = new Map<string, ProjectionRun>();
  #loops: Promise<void>[] = [];
  #running = false;
  #stopping = false;
  readonly #owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly store: EventStore;

  readonly #hooks: RunnerHooks;

  constructor(store: EventStore, options: ProjectionsOptions, hooks: RunnerHooks) {
    this.#base = store;
    this.#hooks = hooks;
    this.#db = store.executor as Driver;
    this.#q = quoteIdent(store.schema);
    this.#schema = checkSchemaName(options.schema ?? 'public');
    this.#defs = [...options.projections];
    this.#pageSize = checkPositiveInt(options.pageSize, 'pageSize', 5000, MAX_READ_LOG_LIMIT);
    this.#switchLag = positive(options.switchLag, 'switchLag', 1000);
    this.#graceMs = checkDuration(options.graceMs, 'graceMs', 600_000, 0);
    this.#maxRate = positive(options.maxEventsPerSecond, 'maxEventsPerSecond', Infinity);
    this.#pollMs = checkDuration(options.pollMs, 'pollMs', 50);
    this.#parkedPollMs = checkDuration(options.parkedPollMs, 'parkedPollMs', 1000);
    if (this.#parkedPollMs < 10) {
      throw new InvalidArgumentError(`parkedPollMs must be at least 10 ms, got ${this.#parkedPollMs}.`, {
        parkedPollMs: this.#parkedPollMs,
      });
    }
    this.#retry = resolveRetry(options.retry);
    this.#breaker = resolveBreaker(options.breaker);
    if (options.onError !== undefined && typeof options.onError !== 'function') {
      throw new InvalidArgumentError('onError must be a function (error, projection) => void.');
    }
    this.#onError = safeCallback(options.onError);
    this.store = inlineStore(store, this.#q, this.#schema, this.#defs);
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
    const ctx = {
      base: this.#base,
      db: this.#db,
      q: this.#q,
      schema: this.#schema,
      pageSize: this.#pageSize,
      switchLag: this.#switchLag,
      graceMs: this.#graceMs,
      maxRate: this.#maxRate,
      pollMs: this.#pollMs,
      parkedPollMs: this.#parkedPollMs,
      retry: this.#retry,
      breaker: this.#breaker,
      onError: this.#onError,
      stopping: () => this.#stopping,
      owner: this.#owner,
      stats: (name: string) => this.#hooks.stats?.(name),
    };
    for (const def of this.#defs) {
      const row = await readVersion(this.#db, this.#q, def.name, def.version);
      const lag = await lagAfter(this.#base, row!.checkpoint);
      const done = Number(row!.applied);
      const state: RunState = {
        def,
        checkpoint: row!.checkpoint,
        done,
        total: done + lag.events,
        startedAt: Date.now(),
        appliedThisRun: 0,
        status: row!.status,
        failure: null,
        job: null,
      };
      this.#state.set(def.name, state);
      const run = new ProjectionRun(ctx, def, state);
      this.#runs.set(def.name, run);
      this.#loops.push(run.run());
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#loops);
    this.#loops = [];
    this.#running = false;
    this.#stopping = false;
  }

  async dropRetired(name: string): Promise<number[]> {
    this.#def(name);
    const rows = await this.#db.query<DbProjectionVersion>(
      `select version, tables, read_schema from ${this.#q}.projections where name = $1 and status = 'retired'`,
      [name],
    );
    for (const r of rows) await dropVersion(this.#db, this.#q, name, r);
    return rows.map((r) => r.version);
  }

  progress(name: string): ProjectionProgress {
    const def = this.#def(name);
    return toProgress(def, this.#state.get(name), this.#runs.get(name)?.breaker.state ?? 'closed');
  }

  retry(name: string): Promise<ParkedEvent> {
    return retryParked(this.#base, this.#def(name));
  }

  skip(name: string, options: { by: string; reason?: string }): Promise<ParkedEvent> {
    return skipFailing(this.#base, this.#def(name), options);
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
        const f = this.#state.get(name)?.failure;
        const stalled = f
          ? `; stalled at ${f.eventType} ${f.eventId} (${f.stream}@${f.streamPosition}), ${f.status}: ${f.error}`
          : '';
        throw new WorkerStateError(
          `Projection ${JSON.stringify(name)} v${def.version} was not live and caught up within ${timeoutMs} ms ` +
            `(status ${row?.status ?? 'unregistered'}, checkpoint ${row?.checkpoint ?? '-'}, head ${head}${stalled}).`,
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
    const defs = this.#defs;
    const failing = async (): Promise<Map<string, { stalled: number; parked: number }>> => {
      const rows = await this.#db.query<{ consumer: string; n: number; parked: number }>(
        `select consumer, count(*)::int as n, count(*) filter (where status = 'parked')::int as parked
           from ${this.#q}.parked_events where consumer = any($1) and status in ('retrying', 'parked')
          group by consumer`,
        [defs.map((d) => failureKey(d.name, d.version))],
      );
      const byKey = new Map(rows.map((r) => [r.consumer, r]));
      return new Map(
        defs.map((d) => {
          const r = byKey.get(failureKey(d.name, d.version));
          return [d.name, { stalled: r && r.n > 0 ? 1 : 0, parked: r?.parked ?? 0 }];
        }),
      );
    };
    // Each gauge reads what it shows in its own collect: prom-client collects gauges concurrently.
    new Gauge({
      name: 'eventlane_projection_stalled',
      help: 'The defined version of a projection is stopped at a failing event (retrying or parked): 1, else 0.',
      labelNames: ['projection', 'version'],
      registers: [registry],
      async collect() {
        for (const [name, f] of await failing())
          this.set(
            { projection: name, version: String(defs.find((d) => d.name === name)!.version) },
            f.stalled,
          );
      },
    });
    new Gauge({
      name: 'eventlane_projection_parked_events',
      help: 'Parked events of the defined version of a projection, waiting for an operator retry or skip.',
      labelNames: ['projection', 'version'],
      registers: [registry],
      async collect() {
        for (const [name, f] of await failing())
          this.set(
            { projection: name, version: String(defs.find((d) => d.name === name)!.version) },
            f.parked,
          );
      },
    });
  }
}
