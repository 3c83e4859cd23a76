// createWorker: one way to run consumers of every kind. Reactors and handler-only projections run in the consumer
// runtime (src/consumers/worker.ts: partitions, lanes, leases); versioned projections run in the projection engine
// (runner.ts: versions, blue/green rebuilds, one checkpoint in the log). It lives here, above both, because this
// folder builds on the consumers folder and the consumers folder must not import it back.

import type { Registry } from 'prom-client';
import type { ProjectionDefinition } from '../consumers/define.js';
import { resolveWorkerOptions, type WorkerOptions } from '../consumers/options.js';
import { ConsumerStats } from '../consumers/stats.js';
import type { VersionedRunner } from '../consumers/versioned.js';
import { newConsumerWorker } from '../consumers/worker.js';
import type { ConsumerHealth, ConsumerWorker } from '../consumers/worker-types.js';
import { InvalidArgumentError, UnknownConsumerError } from '../errors.js';
import type { Driver } from '../store/drivers/driver.js';
import type { EventStore } from '../store/event-store.js';
import { quoteIdent } from '../store/names.js';
import { failureKey, loadFailure } from './failures.js';
import { lagAfter } from './log.js';
import { checkDefinitions, readVersion } from './registry.js';
import { projectionRunner, type Projections } from './runner.js';

/** What a worker offers for its versioned projections (those with `tables` or a `batch` handler). */
export type WorkerProjections = Pick<
  Projections,
  'progress' | 'waitLive' | 'retry' | 'skip' | 'checkDrift' | 'dropRetired'
>;

export interface Worker extends ConsumerWorker {
  /**
   * The versioned projections of this worker: progress of a rebuild, waiting until a version is live and caught
   * up, operator retry and skip of the event a version is stopped at, the drift check, dropping retired versions.
   * Each method throws `EVENTLANE_UNKNOWN_CONSUMER` for a name that is not a versioned projection of this worker.
   */
  readonly projections: WorkerProjections;
}

/**
 * Runs projections and reactors: reactors and handler-only projections through partitions and lanes (one per
 * consumer and partition; each lane is sequential, lanes run concurrently, and worker processes of one group share
 * the partitions through leases in PostgreSQL), versioned projections (with `tables` or a `batch` handler) from the
 * log in commit order, with blue/green rebuilds. One start, one stop, one `health()`, one metrics registry.
 *
 * @example
 * const worker = createWorker(store, { from: 'log', consumers: [orderSummary, receipts] });
 * await worker.start();
 * process.on('SIGTERM', () => void worker.stop());
 */
export function createWorker(store: EventStore, options: WorkerOptions): Worker {
  if (typeof store !== 'object' || store === null || typeof store.readLog !== 'function') {
    throw new InvalidArgumentError(
      'createWorker takes an event store from createEventStore() as its first argument.',
    );
  }
  const o = resolveWorkerOptions(options);
  checkDefinitions(o.versioned);
  const stats = new Map(o.versioned.map((d) => [d.name, new ConsumerStats()]));
  const runner = projectionRunner(
    store,
    {
      ...o.projections,
      projections: o.versioned,
      pollMs: o.pollIntervalMs,
      parkedPollMs: o.parkedPollMs,
      retry: o.retry,
      breaker: o.breaker,
      onError: (error) => o.onError(error),
    },
    { stats: (name) => stats.get(name) },
  );
  const versioned = o.versioned.length === 0 ? null : versionedRunner(store, runner, o.versioned, stats);
  const core = newConsumerWorker(store, o, versioned);
  const projections: WorkerProjections = {
    progress: (name) => runner.progress(name),
    waitLive: (name, timeoutMs) => runner.waitLive(name, timeoutMs),
    retry: (name) => runner.retry(name),
    skip: (name, skip) => runner.skip(name, skip),
    checkDrift: (name, drift) => runner.checkDrift(name, drift),
    dropRetired: (name) => runner.dropRetired(name),
  };
  return {
    id: core.id,
    group: core.group,
    metrics: core.metrics,
    store: core.store,
    projections,
    start: () => core.start(),
    stop: () => core.stop(),
    partitions: () => core.partitions(),
    health: (consumer) => core.health(consumer),
    stats: () => core.stats(),
  };
}

/** The projection engine as the consumer runtime sees it: start, stop, health, counters, gauges. */
function versionedRunner(
  store: EventStore,
  runner: Projections,
  defs: readonly ProjectionDefinition[],
  stats: ReadonlyMap<string, ConsumerStats>,
): VersionedRunner {
  const names = defs.map((d) => d.name);
  const db = store.executor as Driver;
  const q = quoteIdent(store.schema);
  const healthOf = async (def: ProjectionDefinition): Promise<ConsumerHealth> => {
    const progress = runner.progress(def.name);
    const row = await readVersion(db, q, def.name, def.version);
    const checkpoint = row?.checkpoint ?? progress.checkpoint;
    // A live inline version applies each event in its append's transaction: it is never behind.
    const inlineLive = def.mode === 'inline' && row?.status === 'live';
    const lag = inlineLive ? { events: 0, seconds: 0 } : await lagAfter(store, checkpoint);
    const { failure } = await loadFailure(db, q, failureKey(def.name, def.version));
    const s = stats.get(def.name)!;
    return {
      consumer: def.name,
      kind: 'projection',
      eventsBehind: lag.events,
      secondsBehind: lag.seconds,
      throughput: s.throughput(),
      errorRate: s.errorRate(),
      applied: s.applied,
      duplicates: 0,
      failures: s.failures,
      retries: s.retries,
      parked: failure?.status === 'parked' ? 1 : 0,
      retrying: failure?.status === 'retrying' ? 1 : 0,
      breaker: progress.breaker,
      projection: {
        version: def.version,
        status: failure !== null ? 'stalled' : (row?.status ?? 'unknown'),
        mode: def.mode,
        checkpoint,
        failure,
      },
    };
  };
  return {
    names,
    store: runner.store,
    start: () => runner.start(),
    stop: () => runner.stop(),
    async health(name) {
      const selected = name === undefined ? defs : defs.filter((d) => d.name === name);
      if (selected.length === 0) throw new UnknownConsumerError(name, names);
      const out: ConsumerHealth[] = [];
      for (const def of selected) out.push(await healthOf(def));
      return out;
    },
    stats: () => defs.map((d) => stats.get(d.name)!.counters(d.name, runner.progress(d.name).breaker)),
    registerMetrics: (registry: Registry) => runner.registerMetrics(registry),
  };
}
