import type { RetryOptions } from '../consumers/backoff.js';
import { Breaker, type BreakerOptions } from '../consumers/breaker.js';
import type { ConsumerStats } from '../consumers/stats.js';
import type { ProjectionDefinition } from '../consumers/define.js';
import type { Driver } from '../store/drivers/driver.js';
import type { EventStore } from '../store/event-store.js';
import type { ReadLogResult } from '../store/read.js';
import { runRebuildPass } from '../replay/rebuild-job.js';
import { failureKey, loadFailure, applyPage, settleSkip } from './failures.js';
import { lagAfter, readCommittedAfter } from './log.js';
import type { RunState } from './progress.js';
import { readVersion, type DbProjectionVersion } from './registry.js';
import { applyEvents, dropTables, pointViews, tableMap } from './tables.js';

/** What one projection's run loop needs from its runner. */
export interface RunContext {
  base: EventStore;
  db: Driver;
  q: string;
  schema: string;
  pageSize: number;
  switchLag: number;
  graceMs: number;
  maxRate: number;
  pollMs: number;
  parkedPollMs: number;
  retry: RetryOptions;
  breaker: BreakerOptions;
  onError: (error: Error, projection: string) => void;
  stopping(): boolean;
  /** This process's name on the replay jobs it runs (rebuilds). */
  owner: string;
  /** The counters the worker keeps of a projection (none under createProjections). */
  stats(name: string): ConsumerStats | undefined;
}

/** The run loop of one projection version in this process: pages, failures, the breaker, the switch. */
export class ProjectionRun {
  readonly breaker: Breaker;
  /** True while `parked_events` may hold something for this version (at start, and while stalled). */
  #checkFailures = true;

  constructor(
    readonly ctx: RunContext,
    readonly def: ProjectionDefinition,
    readonly state: RunState,
  ) {
    this.breaker = new Breaker(ctx.breaker);
  }

  async run(): Promise<void> {
    while (!this.ctx.stopping()) {
      try {
        const wait = await this.#gate();
        if (wait > 0) {
          // Capped, so an operator's retry or skip is seen within parkedPollMs.
          await this.#sleep(Math.min(wait, this.ctx.parkedPollMs));
          continue;
        }
        await this.#step();
        // A probe step that applied nothing decides nothing.
        if (this.breaker.probing) this.breaker.release();
      } catch (error) {
        if (this.breaker.probing) this.breaker.release();
        if (this.ctx.stopping()) return;
        this.#report(error as Error);
        await this.#sleep(this.ctx.pollMs * 20);
      }
    }
  }

  /** A throwing onError callback must not end the loop. */
  #report(error: Error): void {
    try {
      this.ctx.onError(error, this.def.name);
    } catch {
      // The callback's own failure has nowhere better to go.
    }
  }

  /** Waits that end early when the runner stops (never throws: stop() must resolve). */
  async #sleep(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until && !this.ctx.stopping()) {
      await new Promise((r) => setTimeout(r, Math.min(50, until - Date.now())));
    }
  }

  /** Milliseconds to wait before the next step: a back-off, a parked event, an open breaker; 0 to go on. */
  async #gate(): Promise<number> {
    const s = this.state;
    if (this.#checkFailures) {
      const { failure, skipped } = await loadFailure(
        this.ctx.db,
        this.ctx.q,
        failureKey(this.def.name, this.def.version),
      );
      s.failure = failure;
      if (skipped !== null) {
        await settleSkip(this.ctx.db, this.ctx.q, this.def, skipped);
        return 0;
      }
      this.#checkFailures = failure !== null;
      if (failure?.status === 'parked') return this.ctx.parkedPollMs;
      const due = failure?.nextAttemptAt ? failure.nextAttemptAt.getTime() - Date.now() : 0;
      if (due > 0) return due;
    }
    return this.breaker.acquire();
  }

  /**
   * One pass: a building version is built by its rebuild job (#rebuild). A live one reads pages and applies them
   * until caught up (reading the next page while the current one is being applied), drops expired retired
   * versions, and waits for new events. A failing event ends the pass where it stands.
   */
  async #step(): Promise<void> {
    const { ctx, def, state } = this;
    const row = await readVersion(ctx.db, ctx.q, def.name, def.version);
    if (row === undefined || row.status === 'retired' || row.status === 'dropped') {
      // A newer version took over (another deploy): this process has nothing left to do for it.
      state.status = row?.status ?? 'unknown';
      await this.#sleep(ctx.pollMs * 20);
      return;
    }
    state.status = row.status;
    state.checkpoint = row.checkpoint;
    state.done = Number(row.applied);
    if (row.status === 'building') {
      if (await this.#rebuild()) await this.#dropExpired();
      return;
    }
    const inlineLive = def.mode === 'inline' && row.status === 'live';
    if (!inlineLive) {
      let next = this.#read(state.checkpoint);
      for (;;) {
        const page = await next;
        if (page.events.length === ctx.pageSize) next = this.#read(page.checkpoint);
        if (page.events.length > 0) {
          if (!(await this.#apply(page))) return;
          await this.#throttle();
        }
        // A short page means the reader is at the readable head: its lag count (which scans the rest of the log)
        // keeps progress()' total true. An empty page (the idle poll) pays nothing.
        if (page.events.length > 0 && page.events.length < Math.min(ctx.switchLag, ctx.pageSize)) {
          state.total = state.done + (await lagAfter(ctx.base, state.checkpoint)).events;
        }
        if (page.events.length < ctx.pageSize || ctx.stopping()) break;
      }
    }
    await this.#dropExpired();
    await this.#sleep(inlineLive ? ctx.pollMs * 20 : ctx.pollMs);
  }

  /**
   * A building version is built by a `rebuild` replay job (src/replay/rebuild-job.ts), pass after pass up to the
   * head; it switches live once what was appended during a pass is under `switchLag`. True when the pass ended
   * normally (caught up, switched or not); false when it waits (another process runs the job, or an operator paused
   * it), stopped, or failed at an event (recorded for the gate, as a page of a live version records it).
   */
  async #rebuild(): Promise<boolean> {
    const { ctx, def, state } = this;
    let failure: Error | null = null;
    const pass = await runRebuildPass(
      {
        store: ctx.base,
        db: ctx.db,
        q: ctx.q,
        owner: ctx.owner,
        pageSize: ctx.pageSize,
        pollMs: ctx.pollMs,
        maxEventsPerSecond: ctx.maxRate === Infinity ? null : ctx.maxRate,
        staleMs: Math.max(5000, ctx.pollMs * 20),
        hooks: {
          active: () => state.failure,
          retry: ctx.retry,
          onPage: (applied) => {
            this.ctx.stats(def.name)?.addApplied(applied);
            state.done += applied;
            state.appliedThisRun += applied;
            if (state.done > state.total) state.total = state.done;
            state.failure = null;
            this.breaker.success();
          },
        },
        onError: (error) => {
          failure = error;
          this.#report(error);
        },
        stopping: () => ctx.stopping(),
        onRun: (job) => {
          state.job = job.id;
        },
      },
      def,
    );
    const row = await readVersion(ctx.db, ctx.q, def.name, def.version);
    if (row !== undefined) {
      state.checkpoint = row.checkpoint;
      state.done = Number(row.applied);
      state.status = row.status;
    }
    if (pass === 'failed') {
      this.#checkFailures = true;
      if (failure !== null) {
        this.breaker.failure();
        this.ctx.stats(def.name)?.addFailure();
      }
      state.total = state.done + (await lagAfter(ctx.base, state.checkpoint)).events;
      return false;
    }
    // Another process runs the job, or an operator paused it: look again a little later.
    if (pass === 'busy') await this.#sleep(ctx.pollMs * 20);
    if (pass !== 'caught-up' || row?.status !== 'building') return false;
    const lag = await lagAfter(ctx.base, state.checkpoint);
    state.total = state.done + lag.events;
    if (lag.events < ctx.switchLag) {
      await this.#switch();
      state.status = 'live';
      state.job = null;
    }
    return true;
  }

  /**
   * The read-ahead: a page read while the previous one is applied. When the pass ends before it is used (a failing
   * event, stop), nobody awaits it; the no-op handler keeps its failure from becoming an unhandled rejection.
   */
  #read(after: string): Promise<ReadLogResult> {
    const page = this.ctx.base.readLog({ after, limit: this.ctx.pageSize });
    page.catch(() => undefined);
    return page;
  }

  /** Applies one page; false when an event of it failed (the version stops before it). */
  async #apply(page: ReadLogResult): Promise<boolean> {
    const { ctx, def, state } = this;
    const outcome = await applyPage(
      ctx.db,
      ctx.q,
      def,
      tableMap(def, ctx.schema, def.version),
      state.checkpoint,
      page.events,
      page.checkpoint,
      state.failure,
      ctx.retry,
    );
    state.checkpoint = outcome.checkpoint;
    state.done += outcome.applied;
    state.appliedThisRun += outcome.applied;
    if (state.done > state.total) state.total = state.done;
    state.failure = outcome.failure;
    const stats = ctx.stats(def.name);
    stats?.addApplied(outcome.applied);
    if (outcome.failure === null) {
      this.breaker.success();
      return true;
    }
    this.#checkFailures = true;
    this.breaker.failure();
    if (stats) {
      stats.addFailure();
      if (outcome.failure.status === 'retrying') stats.retries++;
      else stats.parkedTransitions++;
    }
    // Reported before anything else is awaited: whoever sees the failure in progress() has had onError called too.
    this.#report(outcome.error!);
    state.total = state.done + (await lagAfter(ctx.base, state.checkpoint)).events;
    return false;
  }

  async #throttle(): Promise<void> {
    if (this.ctx.maxRate === Infinity) return;
    const due = this.state.startedAt + (this.state.appliedThisRun / this.ctx.maxRate) * 1000;
    if (due > Date.now()) await this.#sleep(due - Date.now());
  }

  /**
   * Makes the building version live in one transaction: views switched with `create or replace view`, the old
   * live version marked retired. For an inline projection the row lock held here is the one every inline append
   * takes first, so the events committed since the last page are applied here, with nothing in flight.
   */
  async #switch(): Promise<void> {
    const { ctx, def, state } = this;
    const tables = tableMap(def, ctx.schema, def.version);
    await ctx.db.transaction(async (ex) => {
      const row = await readVersion(ex, ctx.q, def.name, def.version, 'for update');
      if (row === undefined || row.checkpoint !== state.checkpoint || row.status !== 'building') {
        throw new Error(`projection ${def.name} v${def.version} was moved by another process`);
      }
      let checkpoint = row.checkpoint;
      let applied = 0;
      if (def.mode === 'inline') {
        for (;;) {
          const events = await readCommittedAfter(ctx.base, ex, checkpoint, ctx.pageSize);
          if (events.length === 0) break;
          await applyEvents(def, ex, tables, events);
          checkpoint = events[events.length - 1]!.checkpoint;
          applied += events.length;
        }
      }
      await ex.query(
        `update ${ctx.q}.projections set status = 'retired', retired_at = now(), updated_at = now()
          where name = $1 and status = 'live'`,
        [def.name],
      );
      await ex.query(
        `update ${ctx.q}.projections set status = 'live', live_at = now(), updated_at = now(),
                checkpoint = $3, applied = applied + $4
          where name = $1 and version = $2`,
        [def.name, def.version, checkpoint, applied],
      );
      await pointViews(ex, def, ctx.schema, def.version);
      state.checkpoint = checkpoint;
      state.done += applied;
    });
  }

  async #dropExpired(): Promise<void> {
    const rows = await this.ctx.db.query<DbProjectionVersion>(
      `select version, tables, read_schema from ${this.ctx.q}.projections
        where name = $1 and status = 'retired' and retired_at < now() - make_interval(secs => $2)`,
      [this.def.name, this.ctx.graceMs / 1000],
    );
    for (const r of rows) await dropVersion(this.ctx.db, this.ctx.q, this.def.name, r);
  }
}

export async function dropVersion(
  db: Driver,
  q: string,
  name: string,
  r: DbProjectionVersion,
): Promise<void> {
  await db.transaction(async (ex) => {
    await dropTables(ex, { tables: r.tables }, r.read_schema, r.version);
    await ex.query(
      `update ${q}.projections set status = 'dropped', updated_at = now()
        where name = $1 and version = $2 and status = 'retired'`,
      [name, r.version],
    );
  });
}
