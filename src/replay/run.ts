import type { ConsumerDefinition } from '../consumers/define.js';
import { readLag } from '../consumers/health.js';
import type { LeaseRef } from '../consumers/sql.js';
import { partitionOf } from '../bus/partition.js';
import { ErrorCodes, isEventlaneError } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';
import type { Driver, SqlExecutor } from '../store/drivers/driver.js';
import type { EventStore } from '../store/event-store.js';
import { compareCheckpoints } from '../store/names.js';
import { lagAfter } from '../projections/log.js';
import { readVersion } from '../projections/registry.js';
import {
  applyGuarded,
  applyVersioned,
  dryRun,
  replayReactor,
  ReplayHandlerFailure,
  type ApplyContext,
  type Tally,
} from './apply.js';
import { addCounts, finishRun, heartbeat, savePageStatement, type DbReplayJob } from './jobs.js';
import { readRangePage } from './read-range.js';
import { applyRebuildPage, type RebuildHooks, type VersionAt } from './rebuild.js';
import { AdaptiveRate, TokenBucket, type AdaptiveLimits, type Clock } from './throttle.js';
import { emptyReport, type ReplayReport } from './types.js';

/** What a job's run needs from the engine. */
export interface RunEnv {
  store: EventStore;
  db: Driver;
  q: string;
  consumer: ConsumerDefinition;
  owner: string;
  pageSize: number;
  pollMs: number;
  clock: Clock;
  adaptive: Partial<AdaptiveLimits>;
  onError: (error: Error) => void;
  stopping(): boolean;
  /** A rebuild run by createProjections: its failure state and retry policy, and each page as it commits. */
  rebuild?: RebuildHooks;
}

/** Failed attempts of a page (database errors) before the job is marked failed. */
const MAX_PAGE_ATTEMPTS = 5;
/** How often the adaptive mode measures the target's lag. */
const LAG_EVERY_MS = 2000;

class Fenced extends Error {}

/** One run of one job in this process: from its checkpoint, page by page, until the end, a pause, or a stop. */
export class JobRun {
  /** Events done by this run, and when it started (for the rate). */
  doneThisRun = 0;
  readonly startedAt: number;
  #row: DbReplayJob;
  #report: ReplayReport;
  readonly #bucket: TokenBucket;
  readonly #adaptive: AdaptiveRate | null;
  #lagMeasuredAt = -Infinity;
  /** A rebuild's version as this run's last page left it (read before the first page). */
  #version: VersionAt | undefined;
  /** The page read ahead (see #read), from `after`, of `limit` events. */
  #ahead: { after: string; limit: number; page: Promise<StoredEvent[]> } | null = null;

  constructor(
    readonly env: RunEnv,
    row: DbReplayJob,
  ) {
    this.#row = row;
    this.#report = { ...emptyReport(), ...row.report };
    this.startedAt = env.clock.now();
    this.#adaptive = row.adaptive ? new AdaptiveRate(env.adaptive) : null;
    this.#bucket = new TokenBucket(
      row.max_events_per_second === null ? null : Number(row.max_events_per_second),
      env.clock,
    );
  }

  get id(): string {
    return this.#row.id;
  }

  get row(): DbReplayJob {
    return this.#row;
  }

  /** Events per second over this run. */
  rate(): number {
    const seconds = (this.env.clock.now() - this.startedAt) / 1000;
    return seconds > 0 ? this.doneThisRun / seconds : 0;
  }

  /** The limit in force: the row's, scaled by the adaptive factor. */
  #limit(): number | null {
    const max = this.#row.max_events_per_second === null ? null : Number(this.#row.max_events_per_second);
    if (max === null) return null;
    return this.#adaptive === null ? max : max * this.#adaptive.factor;
  }

  /** Pages cover about a fifth of a second at the limit, so a low rate is smooth rather than bursts then waits. */
  #pageLimit(): number {
    const limit = this.#limit();
    if (limit === null) return this.env.pageSize;
    return Math.max(1, Math.min(this.env.pageSize, Math.ceil(limit / 5)));
  }

  async run(): Promise<void> {
    const { env } = this;
    const token = this.#row.run_token;
    let attempts = 0;
    try {
      if (env.consumer.kind === 'reactor' && this.#row.kind === 'reactor-replay') await this.#takeLease();
      for (;;) {
        if (env.stopping()) return;
        if (this.#row.state !== 'running') return;
        const to = this.#row.to_checkpoint;
        let events: StoredEvent[];
        const t0 = env.clock.now();
        try {
          events = await this.#read();
          if (events.length === 0) {
            if (to !== null && compareCheckpoints((await env.store.head()).checkpoint, to) >= 0) {
              await finishRun(env.db, env.q, this.id, token, 'completed', {
                checkpoint: to,
                report: this.#report,
              });
              if (this.#row.kind === 'reactor-replay') await this.#dropLease();
              this.#row = { ...this.#row, state: 'completed', checkpoint: to };
              return;
            }
            await this.#idle();
            continue;
          }
          await this.#bucket.acquire(events.length);
          if (env.stopping()) return;
          await this.#apply(events);
          attempts = 0;
        } catch (error) {
          if (error instanceof Fenced) return;
          if (error instanceof ReplayHandlerFailure) {
            if (isEventlaneError(error.cause, ErrorCodes.LEASE_LOST)) return;
            await this.#fail(error.cause, error.event);
            return;
          }
          attempts++;
          env.onError(error as Error);
          this.#adaptive?.observe({ latencyMs: env.clock.now() - t0, error: true });
          if (attempts >= MAX_PAGE_ATTEMPTS) {
            await this.#fail(error as Error);
            return;
          }
          await env.clock.sleep(Math.min(env.pollMs * 2 ** attempts, 5000));
          continue;
        }
        this.doneThisRun += events.length;
        await this.#adapt(env.clock.now() - t0);
      }
    } catch (error) {
      // A failure of the bookkeeping itself (the database is gone): the job stays 'running' with a stale
      // heartbeat, and resumes from its checkpoint when someone resumes it.
      env.onError(error as Error);
    } finally {
      // No read of this run outlives it.
      await this.#ahead?.page.catch(() => undefined);
      this.#ahead = null;
    }
  }

  /**
   * The next page: the one read ahead when it starts at the job's checkpoint with the size in force, else a read.
   * After a full page, the page after it is read at once, on another connection, while this one is applied.
   */
  async #read(): Promise<StoredEvent[]> {
    const after = this.#row.checkpoint;
    const limit = this.#pageLimit();
    const ahead = this.#ahead;
    this.#ahead = null;
    const events =
      ahead !== null && ahead.after === after && ahead.limit === limit
        ? await ahead.page
        : await this.#readPage(after, limit);
    if (events.length === limit) {
      const next = events[events.length - 1]!.checkpoint;
      const page = this.#readPage(next, limit);
      // Unused when the page fails or the run stops; its failure is then nobody's to handle.
      page.catch(() => undefined);
      this.#ahead = { after: next, limit, page };
    }
    return events;
  }

  #readPage(after: string, limit: number): Promise<StoredEvent[]> {
    const r = this.#row;
    const contracts = this.env.store.contracts;
    return readRangePage(
      this.env.db,
      this.env.q,
      { after, to: r.to_checkpoint, types: r.event_types, streamPrefix: r.stream_prefix, limit },
      contracts === undefined ? undefined : (e) => contracts.upcast(e),
      (events) => this.env.store.reveal(events, 'mark'),
      this.env.store.logArchive,
    );
  }

  /** Nothing to read yet (following, or the end not readable): heartbeat, pick up state changes, wait. */
  async #idle(): Promise<void> {
    const row = await heartbeat(this.env.db, this.env.q, this.id, this.#row.run_token);
    if (row === null) throw new Fenced();
    this.#adopt(row);
    if (this.#row.state === 'running') await this.env.clock.sleep(this.env.pollMs);
  }

  /** Takes in the row as committed: state and rate changes made by an operator. */
  #adopt(row: DbReplayJob): void {
    this.#row = row;
    this.#report = { ...emptyReport(), ...row.report };
    this.#bucket.setRate(this.#limit());
  }

  async #adapt(pageMs: number): Promise<void> {
    const a = this.#adaptive;
    if (a === null) return;
    let lagEvents: number | undefined;
    if (this.env.clock.now() - this.#lagMeasuredAt >= LAG_EVERY_MS) {
      this.#lagMeasuredAt = this.env.clock.now();
      lagEvents = await this.#targetLag();
    }
    a.observe({ latencyMs: pageMs, lagEvents });
    this.#bucket.setRate(this.#limit());
    if (this.#limit() === null) {
      const pause = a.pauseAfter(pageMs);
      if (pause > 0) await this.env.clock.sleep(pause);
    }
  }

  /** How far the live consumer is behind the head: the replay yields to it when it falls behind. */
  async #targetLag(): Promise<number | undefined> {
    const { consumer, db, q, store } = this.env;
    if (this.#row.kind === 'dry-run') return undefined;
    if (consumer.kind === 'projection' && Object.keys(consumer.tables).length > 0) {
      const row = await readVersion(db, q, consumer.name, consumer.version);
      return row === undefined ? undefined : (await lagAfter(store, row.checkpoint)).events;
    }
    return (await readLag(db, q, consumer.name)).eventsBehind;
  }

  /** Applies a page and commits the job's progress; the committed row is adopted. */
  async #apply(events: StoredEvent[]): Promise<Tally> {
    const { env } = this;
    const r = this.#row;
    const token = r.run_token;
    const checkpoint = events[events.length - 1]!.checkpoint;
    const draft: ReplayReport = structuredClone(this.#report);
    const ctx: ApplyContext = {
      store: env.store,
      db: env.db,
      q: env.q,
      report: draft,
      reprocess: r.reprocess,
    };
    const consumer = env.consumer;
    // The job's progress, in the page's transaction; the row it returns is adopted (a rebuild's once committed).
    const progress = (t: Tally) =>
      savePageStatement(env.q, this.id, token, { checkpoint, done: events.length, ...t, report: draft });
    let saved: DbReplayJob | undefined;
    const keep = (row: Record<string, unknown> | undefined): void => {
      if (row === undefined) throw new Fenced();
      saved = row as unknown as DbReplayJob;
    };
    const save = async (ex: SqlExecutor, t: Tally): Promise<void> => {
      const { text, params } = progress(t);
      keep((await ex.query(text, params))[0]);
      this.#adopt(saved!);
    };
    if (r.kind === 'dry-run' && consumer.kind === 'reactor') {
      const handled = await dryRun(env.db, env.q, consumer, events, draft.effects);
      const t = { applied: handled, skipped: events.length - handled };
      await env.db.transaction((ex) => save(ex, t));
      return t;
    }
    if (r.kind === 'reactor-replay' && consumer.kind === 'reactor') {
      const t = await this.#parts(events, (part) =>
        replayReactor(ctx, consumer, part, this.#lease(), env.onError),
      );
      await env.db.transaction((ex) => save(ex, { applied: 0, skipped: 0 }));
      return t;
    }
    if (consumer.kind !== 'projection') throw new Error('unreachable: a reactor in a rebuild or backfill');
    if (r.kind === 'rebuild') {
      const { tally, version } = await applyRebuildPage(
        env,
        consumer,
        events,
        draft,
        (t) => ({ ...progress(t), check: keep }),
        env.rebuild,
        this.#version,
      );
      this.#version = version;
      this.#adopt(saved!);
      env.rebuild?.onPage(tally.applied);
      return tally;
    }
    if (Object.keys(consumer.tables).length > 0) {
      return env.db.transaction(async (ex) => {
        const t = await applyVersioned(ctx, ex, consumer, events);
        await save(ex, t);
        return t;
      });
    }
    if (r.concurrency <= 1) {
      return env.db.transaction(async (ex) => {
        const t = await applyGuarded(ctx, ex, consumer, events);
        await save(ex, t);
        return t;
      });
    }
    const t = await this.#parts(events, (part) =>
      env.db.transaction(async (ex) => {
        const pt = await applyGuarded(ctx, ex, consumer, part);
        if (!(await addCounts(ex, env.q, this.id, token, pt))) throw new Fenced();
        return pt;
      }),
    );
    await env.db.transaction((ex) => save(ex, { applied: 0, skipped: 0 }));
    return t;
  }

  /**
   * Splits a page by stream (hash of the stream, as partitions do) into `concurrency` parts applied at once: one
   * stream is always in one part, in order. Parts commit on their own; the job's checkpoint moves after all of them,
   * and after a crash in between the order guard or the journal makes the parts applied before harmless.
   */
  async #parts(events: StoredEvent[], fn: (part: StoredEvent[]) => Promise<Tally>): Promise<Tally> {
    const n = this.#row.concurrency;
    if (n <= 1) return fn(events);
    const parts: StoredEvent[][] = Array.from({ length: n }, () => []);
    for (const e of events) parts[partitionOf(e.stream, n)]!.push(e);
    const tallies = await Promise.all(parts.filter((p) => p.length > 0).map(fn));
    return tallies.reduce((a, b) => ({ applied: a.applied + b.applied, skipped: a.skipped + b.skipped }), {
      applied: 0,
      skipped: 0,
    });
  }

  #lease(): LeaseRef {
    return {
      group: `eventlane.replay:${this.id}`,
      partition: 0,
      owner: this.env.owner,
      token: Number(this.#row.run_token),
    };
  }

  /** The job's own fence for the effect journal: a run that was taken over cannot record an effect's intent. */
  async #takeLease(): Promise<void> {
    const l = this.#lease();
    await this.env.db.query(
      `insert into ${this.env.q}.partition_leases (group_name, partition, owner, fencing_token, heartbeat_at, acquired_at)
       values ($1, 0, $2, $3, now(), now())
       on conflict (group_name, partition) do update set owner = $2, fencing_token = $3, heartbeat_at = now(),
         acquired_at = now() where partition_leases.fencing_token < $3`,
      [l.group, l.owner, l.token],
    );
  }

  async #dropLease(): Promise<void> {
    await this.env.db.query(`delete from ${this.env.q}.partition_leases where group_name = $1`, [
      this.#lease().group,
    ]);
  }

  async #fail(error: Error, event?: StoredEvent): Promise<void> {
    const report: ReplayReport = {
      ...this.#report,
      error: {
        message: error.message.slice(0, 2000),
        ...(event === undefined
          ? {}
          : {
              eventId: event.id,
              eventType: event.type,
              stream: event.stream,
              streamPosition: event.streamPosition,
            }),
      },
    };
    await finishRun(this.env.db, this.env.q, this.id, this.#row.run_token, 'failed', {
      error: error.message.slice(0, 2000),
      report,
    });
    this.#row = { ...this.#row, state: 'failed', error: error.message, report };
    this.env.onError(error);
  }
}
