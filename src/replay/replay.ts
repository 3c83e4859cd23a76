import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import { checkConsumerDefinition, type ConsumerDefinition } from '../consumers/define.js';
import { checkPositiveInt } from '../bus/options.js';
import {
  describeValue,
  InvalidArgumentError,
  ReplayModeError,
  ReplayPreviewMismatchError,
  ReplayPreviewRequiredError,
  safeCallback,
  TimeoutError,
} from '../errors.js';
import { uuidv7 } from '../events/ids.js';
import type { Driver } from '../store/drivers/driver.js';
import type { EventStore } from '../store/event-store.js';
import { quoteIdent } from '../store/names.js';
import { MAX_READ_LOG_LIMIT } from '../store/read.js';
import { readVersion } from '../projections/registry.js';
import { changeRate, changeState, claimJob, insertJob, listJobs, readJob, toJob } from './jobs.js';
import { registerReplayMetrics } from './metrics.js';
import { planReplay, previewToken, tokenEnd, tokenMatches } from './plan.js';
import { countRange } from './read-range.js';
import { JobRun } from './run.js';
import { checkOptions, checkRate, resolveRange, type ReplaySpec } from './spec.js';
import { systemClock, type AdaptiveLimits, type Clock } from './throttle.js';
import type { ReplayJob, ReplayOptions, ReplayPlan, ReplayState, StartOptions } from './types.js';

export interface ReplayEngineOptions {
  /** The consumers jobs may target, by name: projections (handler-only or versioned) and reactors. */
  consumers: readonly ConsumerDefinition[];
  /** Jobs over more events than this need the token of a `plan()`. @defaultValue 10000 */
  previewThreshold?: number;
  /** Events read per page (at most 10,000); a rate limit makes pages smaller (a fifth of a second each). @defaultValue 1000 */
  pageSize?: number;
  /** Wait between reads when a job has caught up (following, or its end not yet readable). @defaultValue 100 */
  pollMs?: number;
  /** A running job whose heartbeat is older than this may be resumed by another process. @defaultValue 30000 */
  staleMs?: number;
  /** Events a plan evaluates a reactor's handlers over; beyond, the effects are scaled up. @defaultValue 10000 */
  planEffectsLimit?: number;
  /** Thresholds of the adaptive mode (see AdaptiveLimits). */
  adaptive?: Partial<AdaptiveLimits>;
  /** Time, for tests. @defaultValue the system clock */
  clock?: Clock;
  /** Called with failures of pages (retried) and of jobs (marked failed). @defaultValue ignore */
  onError?: (error: Error, jobId: string) => void;
}

export interface Replay {
  /** What a job would do, without doing anything: counts by type, consumers touched, effects, duration, token. */
  plan(options: ReplayOptions): Promise<ReplayPlan>;
  /** Writes the job and runs it in this process. Over the threshold, needs `previewToken` from `plan()`. */
  start(options: StartOptions): Promise<ReplayJob>;
  /** Runs a queued, paused or failed job here, from its checkpoint; `takeOver` a running one whose process died. */
  resume(id: string, options?: { takeOver?: boolean }): Promise<ReplayJob>;
  /** Asks the job to stop after its page in progress; resume() continues from its checkpoint. */
  pause(id: string): Promise<ReplayJob>;
  /** Ends the job for good after its page in progress; what was applied stays applied. */
  cancel(id: string): Promise<ReplayJob>;
  /** A new events/s limit (null: none), taken up by the running job at its next page. */
  setRate(id: string, maxEventsPerSecond: number | null): Promise<ReplayJob>;
  get(id: string): Promise<ReplayJob>;
  list(options?: { states?: ReplayState[]; limit?: number }): Promise<ReplayJob[]>;
  /** Resolves when the job is completed, failed, cancelled or paused. */
  wait(id: string, options?: { timeoutMs?: number }): Promise<ReplayJob>;
  /** Stops this process's runs after their pages in progress; their jobs are left paused. */
  stop(): Promise<void>;
  /** `eventlane_replay_*` gauges of the jobs not yet completed or cancelled. */
  registerMetrics(registry: Registry): void;
}

export function createReplay(store: EventStore, options: ReplayEngineOptions): Replay {
  if (typeof options !== 'object' || options === null || !Array.isArray(options.consumers)) {
    throw new InvalidArgumentError(
      'createReplay takes { consumers: [defineProjection(…), defineReactor(…)] }.',
    );
  }
  return new ReplayImpl(store, options);
}

const FINAL: readonly ReplayState[] = ['completed', 'failed', 'cancelled', 'paused'];
const STATES: readonly ReplayState[] = ['queued', 'running', 'paused', 'cancelled', 'completed', 'failed'];

class ReplayImpl implements Replay {
  readonly #store: EventStore;
  readonly #db: Driver;
  readonly #q: string;
  readonly #consumers = new Map<string, ConsumerDefinition>();
  readonly #threshold: number;
  readonly #pageSize: number;
  readonly #pollMs: number;
  readonly #staleMs: number;
  readonly #effectsLimit: number;
  readonly #adaptive: Partial<AdaptiveLimits>;
  readonly #clock: Clock;
  readonly #onError: (error: Error, jobId: string) => void;
  readonly #owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly #runs = new Map<string, { run: JobRun; done: Promise<void> }>();
  #stopping = false;

  constructor(store: EventStore, options: ReplayEngineOptions) {
    this.#store = store;
    this.#db = store.executor as Driver;
    this.#q = quoteIdent(store.schema);
    options.consumers.forEach((c, i) => {
      const def = checkConsumerDefinition(c, `createReplay: consumers[${i}]`);
      if (this.#consumers.has(def.name)) {
        throw new InvalidArgumentError(`createReplay: two consumers are named ${JSON.stringify(def.name)}.`);
      }
      this.#consumers.set(def.name, def);
    });
    this.#threshold = checkPositiveInt(
      options.previewThreshold,
      'previewThreshold',
      10_000,
      Number.MAX_SAFE_INTEGER,
    );
    this.#pageSize = checkPositiveInt(options.pageSize, 'pageSize', 1000, MAX_READ_LOG_LIMIT);
    this.#pollMs = checkPositiveInt(options.pollMs, 'pollMs', 100, 60_000);
    this.#staleMs = checkPositiveInt(options.staleMs, 'staleMs', 30_000, 86_400_000);
    this.#effectsLimit = checkPositiveInt(options.planEffectsLimit, 'planEffectsLimit', 10_000, 10_000_000);
    this.#adaptive = options.adaptive ?? {};
    this.#clock = options.clock ?? systemClock;
    if (options.onError !== undefined && typeof options.onError !== 'function') {
      throw new InvalidArgumentError('onError must be a function (error, jobId) => void.');
    }
    this.#onError = safeCallback(options.onError);
  }

  /** Checks the options and resolves the range. `plannedEnd` is the end a preview token was made with. */
  async #spec(input: ReplayOptions, plannedEnd?: string | null): Promise<ReplaySpec> {
    const checked = checkOptions(input, this.#consumers);
    const head = (await this.#store.head()).checkpoint;
    const { consumer, kind } = checked;
    const versioned = consumer.kind === 'projection' && Object.keys(consumer.tables).length > 0;
    let fromBound = checked.fromBound;
    let toBound = checked.toBound;
    let follow = checked.follow;
    if (versioned) {
      const row = await readVersion(this.#db, this.#q, consumer.name, consumer.version);
      if (row === undefined || row.status === 'retired' || row.status === 'dropped') {
        throw new ReplayModeError(
          `Projection ${JSON.stringify(consumer.name)} v${consumer.version} is ${row?.status ?? 'not registered'}: ` +
            'start createProjections with this version first (it registers the version and creates its tables).',
          { consumer: consumer.name, version: consumer.version },
        );
      }
      if (kind === 'rebuild') {
        if (row.status !== 'building') {
          throw new ReplayModeError(
            `Projection ${JSON.stringify(consumer.name)} v${consumer.version} is already live: there is nothing to ` +
              'rebuild. Release a higher version to rebuild, or backfill with reprocess to re-apply a range.',
            { consumer: consumer.name, version: consumer.version },
          );
        }
        fromBound = row.checkpoint;
        toBound = undefined;
        follow = false;
      }
    }
    // A token planned with a fixed end fixes the end of a start without one (a follow token fits follow only).
    if (typeof plannedEnd === 'string' && toBound === undefined && !follow) toBound = plannedEnd;
    const range = await resolveRange(this.#store.executor, this.#q, { fromBound, toBound, follow }, head);
    return {
      kind,
      consumer,
      from: range.from,
      to: range.to,
      types: checked.types,
      streamPrefix: checked.streamPrefix,
      reprocess: checked.reprocess,
      maxEventsPerSecond: checked.maxEventsPerSecond,
      concurrency: checked.concurrency,
      adaptive: checked.adaptive,
    };
  }

  async plan(options: ReplayOptions): Promise<ReplayPlan> {
    const spec = await this.#spec(options);
    return planReplay(this.#store, this.#q, spec, {
      threshold: this.#threshold,
      effectsLimit: this.#effectsLimit,
      pageSize: this.#pageSize,
    });
  }

  async start(options: StartOptions): Promise<ReplayJob> {
    const token = (options as { previewToken?: unknown } | null)?.previewToken;
    if (token !== undefined && typeof token !== 'string') {
      throw new ReplayPreviewMismatchError(
        `previewToken must be the string plan() returned, got ${describeValue(token)}`,
      );
    }
    const plannedEnd = token === undefined ? undefined : tokenEnd(token);
    if (token !== undefined && plannedEnd === undefined) {
      throw new ReplayPreviewMismatchError('it is not a token plan() hands out');
    }
    const spec = await this.#spec(options, plannedEnd);
    const counts = await countRange(
      this.#store.executor,
      this.#q,
      { ...spec, after: spec.from },
      this.#store.logArchive,
    );
    const events = [...counts.values()].reduce((a, b) => a + b, 0);
    if (token !== undefined && !tokenMatches(token, spec)) {
      throw new ReplayPreviewMismatchError(
        `planned ${token.split('.')[1]}, starting ${previewToken(spec).split('.')[1]}; or other options`,
      );
    }
    if (token === undefined && events > this.#threshold)
      throw new ReplayPreviewRequiredError(events, this.#threshold);
    const row = await insertJob(this.#db, this.#q, uuidv7(), spec, events);
    if ((options as { detached?: unknown }).detached === true) return toJob(row);
    return this.resume(row.id);
  }

  async resume(id: string, options: { takeOver?: boolean } = {}): Promise<ReplayJob> {
    const local = this.#runs.get(id);
    if (local !== undefined) {
      const current = await readJob(this.#db, this.#q, id);
      if (current.state === 'running') return this.#view(current);
      // Paused or cancelled while its run here finishes its page: a resume right after a pause waits for that run.
      await local.done;
    }
    const row = await readJob(this.#db, this.#q, id);
    const consumer = this.#consumers.get(row.consumer);
    if (consumer === undefined) {
      throw new ReplayModeError(
        `Replay job ${id} targets ${JSON.stringify(row.consumer)}, which this engine was not given: pass its ` +
          'definition in createReplay({ consumers }).',
        { id, consumer: row.consumer },
      );
    }
    const claimed = await claimJob(
      this.#db,
      this.#q,
      id,
      this.#owner,
      this.#staleMs,
      options.takeOver === true,
    );
    const run = new JobRun(
      {
        store: this.#store,
        db: this.#db,
        q: this.#q,
        consumer,
        owner: this.#owner,
        pageSize: this.#pageSize,
        pollMs: this.#pollMs,
        clock: this.#clock,
        adaptive: this.#adaptive,
        onError: (error) => this.#onError(error, id),
        stopping: () => this.#stopping,
      },
      claimed,
    );
    const done = run.run().finally(() => this.#runs.delete(id));
    this.#runs.set(id, { run, done });
    return toJob(claimed, { rate: 0 });
  }

  async pause(id: string): Promise<ReplayJob> {
    return this.#view(await changeState(this.#db, this.#q, id, 'paused'));
  }

  async cancel(id: string): Promise<ReplayJob> {
    return this.#view(await changeState(this.#db, this.#q, id, 'cancelled'));
  }

  async setRate(id: string, maxEventsPerSecond: number | null): Promise<ReplayJob> {
    return this.#view(await changeRate(this.#db, this.#q, id, checkRate(maxEventsPerSecond)));
  }

  async get(id: string): Promise<ReplayJob> {
    return this.#view(await readJob(this.#db, this.#q, id));
  }

  #view(row: Parameters<typeof toJob>[0]): ReplayJob {
    const local = this.#runs.get(row.id);
    return toJob(row, local === undefined ? undefined : { rate: local.run.rate() });
  }

  async list(options: { states?: ReplayState[]; limit?: number } = {}): Promise<ReplayJob[]> {
    const limit = checkPositiveInt(options.limit, 'limit', 100, 10_000);
    const states = options.states ?? null;
    if (states !== null && (!Array.isArray(states) || !states.every((s) => STATES.includes(s)))) {
      throw new InvalidArgumentError(
        `states must be an array of ${STATES.join(', ')}, got ${describeValue(states)}.`,
      );
    }
    const rows = await listJobs(this.#db, this.#q, { states, limit });
    return rows.map((r) => this.#view(r));
  }

  async wait(id: string, options: { timeoutMs?: number } = {}): Promise<ReplayJob> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const local = this.#runs.get(id);
      const job = await this.get(id);
      if (FINAL.includes(job.state) && local === undefined) return job;
      if (Date.now() > deadline) {
        throw new TimeoutError(
          `Replay job ${id} was still ${job.state} after ${timeoutMs} ms (${job.done} of ${job.total} events).`,
          { id, state: job.state },
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const runs = [...this.#runs.values()];
    await Promise.all(runs.map((r) => r.done));
    for (const { run } of runs) {
      await this.#db.query(
        `update ${this.#q}.replay_jobs set state = 'paused', owner = null, updated_at = now()
          where id = $1 and run_token = $2 and state = 'running'`,
        [run.id, run.row.run_token],
      );
    }
    this.#stopping = false;
  }

  registerMetrics(registry: Registry): void {
    registerReplayMetrics(registry, async () => {
      const rows = await listJobs(this.#db, this.#q, {
        states: ['queued', 'running', 'paused', 'failed'],
        limit: 1000,
      });
      return rows.map((r) => this.#view(r));
    });
  }
}
