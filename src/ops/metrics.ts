// The process-wide metrics surface. Every eventlane component takes a prom-client registry; give them all the same
// one (`processRegistry()` is prom-client's default registry, which the relay and the buses use unless told
// otherwise) and serve it with `renderMetrics`. The database-read series (`eventlane_db_*`) come from a registry
// of their own, so they never clash with the live series of the workers, relays and projections of the process.

import { Gauge, register as defaultRegistry, Registry } from 'prom-client';
import { breakerStateValue } from '../consumers/breaker.js';
import type { EventStore } from '../store/event-store.js';
import { registerOldestTransactionMetric } from '../store/metrics.js';
import { listConsumers, listProjections, listRelays } from './inventory.js';
import { readReplayJobs, registerReplayJobMetrics } from './replay-metrics.js';

/**
 * The registry the whole process reports into: pass it as `registry` to `createWorker` and `createRelay`, and to
 * `projections.registerMetrics()`. It is prom-client's default registry, where the relay and the bus intake
 * report when given none.
 */
export function processRegistry(): Registry {
  return defaultRegistry;
}

/** How long one database read serves concurrent collects of one scrape. */
const READ_MEMO_MS = 1000;

function memo<T>(read: () => Promise<T>): () => Promise<T | undefined> {
  let last: { at: number; value: Promise<T | undefined> } | undefined;
  return () => {
    if (last && performance.now() - last.at < READ_MEMO_MS) return last.value;
    // A scrape must not fail while the database is briefly away: the series disappear until the next good read.
    const value = read().catch(() => undefined);
    last = { at: performance.now(), value };
    return value;
  };
}

export interface DatabaseMetricsOptions {
  /** Where the `eventlane_db_*` series go. @defaultValue a new registry, returned */
  registry?: Registry;
  /**
   * Where `eventlane_oldest_transaction_age_seconds` goes: workers and relays report the same gauge, so it must
   * be the registry they report into (it is shared there, never duplicated). @defaultValue `registry`
   */
  processRegistry?: Registry;
}

/**
 * Registers the series read from the database at scrape time: relay backlog and parking, lag and parked counts of
 * every consumer and projection recorded in the store, progress and rate of replay jobs (`eventlane_db_*`), and the
 * oldest open transaction. They
 * work in a process that runs no worker at all (`eventlane serve`). Serve the returned registry beside the process
 * registry with `renderMetrics`; call `stop` to remove the store from the shared oldest-transaction gauge.
 */
export function registerDatabaseMetrics(
  store: EventStore,
  options: DatabaseMetricsOptions = {},
): { registry: Registry; stop: () => void } {
  const registry = options.registry ?? new Registry();
  const registers = [registry];
  const relays = memo(() => listRelays(store));
  const consumers = memo(() => listConsumers(store));
  const projections = memo(() => listProjections(store));

  const gauge = <T, L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    read: () => Promise<T[] | undefined>,
    labels: (row: T) => Record<L, string>,
    value: (row: T) => number,
  ): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      async collect() {
        const rows = await read();
        this.reset();
        for (const row of rows ?? []) this.set(labels(row), value(row));
      },
    });
  };
  const relay = (r: { name: string }) => ({ relay: r.name });
  gauge(
    'eventlane_db_relay_backlog_events',
    'Committed events a relay has not published yet (from its stored checkpoint).',
    ['relay'],
    relays,
    relay,
    (r) => r.backlogEvents,
  );
  gauge(
    'eventlane_db_relay_oldest_unpublished_age_seconds',
    'Age of the oldest committed event a relay has not published yet; 0 when caught up.',
    ['relay'],
    relays,
    relay,
    (r) => r.oldestUnpublishedAgeSeconds,
  );
  gauge(
    'eventlane_db_relay_parked_events',
    'Events a relay parked (the bus refused them), waiting for an operator.',
    ['relay'],
    relays,
    relay,
    (r) => r.parked,
  );
  gauge(
    'eventlane_db_relay_held_events',
    'Later events of streams with a relay-parked event, held back in order.',
    ['relay'],
    relays,
    relay,
    (r) => r.held,
  );

  const consumer = (c: { name: string }) => ({ consumer: c.name });
  gauge(
    'eventlane_db_consumer_lag_events',
    'Events appended but not yet applied by a consumer (every consumer recorded in the store).',
    ['consumer'],
    consumers,
    consumer,
    (c) => c.eventsBehind,
  );
  gauge(
    'eventlane_db_consumer_lag_seconds',
    'Age of the oldest event a consumer has not applied yet; 0 when caught up.',
    ['consumer'],
    consumers,
    consumer,
    (c) => c.secondsBehind,
  );
  gauge(
    'eventlane_db_consumer_parked_events',
    'Events parked for a consumer, waiting for an operator to retry or skip them.',
    ['consumer'],
    consumers,
    consumer,
    (c) => c.parked,
  );
  gauge(
    'eventlane_db_consumer_retrying_events',
    'Failing events of a consumer still being retried with backoff.',
    ['consumer'],
    consumers,
    consumer,
    (c) => c.retrying,
  );
  gauge(
    'eventlane_db_consumer_oldest_parked_age_seconds',
    'Age of the oldest parked event of a consumer; 0 when none is parked.',
    ['consumer'],
    consumers,
    consumer,
    (c) => c.oldestParkedAgeSeconds,
  );
  new Gauge({
    name: 'eventlane_db_consumer_breaker_state',
    help: 'Worst retry-storm breaker of a consumer among its live workers: 0 closed, 1 half-open, 2 open (paused).',
    labelNames: ['consumer'],
    registers,
    async collect() {
      const rows = await consumers();
      this.reset();
      for (const c of rows ?? [])
        if (c.breaker !== null) this.set({ consumer: c.name }, breakerStateValue(c.breaker));
    },
  });

  const projection = (p: { name: string; version: number }) => ({
    projection: p.name,
    version: String(p.version),
  });
  gauge(
    'eventlane_db_projection_lag_events',
    'Events in the log after the checkpoint of a projection version (building or live).',
    ['projection', 'version'],
    projections,
    projection,
    (p) => p.eventsBehind,
  );
  gauge(
    'eventlane_db_projection_lag_seconds',
    'Age of the oldest event a projection version has not applied yet; 0 when caught up.',
    ['projection', 'version'],
    projections,
    projection,
    (p) => p.secondsBehind,
  );
  gauge(
    'eventlane_db_projection_parked_events',
    'Parked events of a projection version, waiting for an operator retry or skip.',
    ['projection', 'version'],
    projections,
    projection,
    (p) => p.parked,
  );
  gauge(
    'eventlane_db_projection_stalled',
    'A projection version is stopped at a failing event (retrying or parked): 1, else 0.',
    ['projection', 'version'],
    projections,
    projection,
    (p) => (p.failure === null ? 0 : 1),
  );

  registerReplayJobMetrics(
    registry,
    memo(() => readReplayJobs(store)),
  );

  const stop = registerOldestTransactionMetric(
    options.processRegistry ?? registry,
    async () => (await store.health()).oldestTransactionAgeSeconds,
  );
  return { registry, stop };
}

/** The content type of `renderMetrics`' output (Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE = defaultRegistry.contentType;

/**
 * Renders several registries as one Prometheus text document. A metric name must live in one registry only
 * (prom-client refuses the merge otherwise): give every component of the process the same registry.
 */
export async function renderMetrics(registries: readonly Registry[]): Promise<string> {
  const unique = [...new Set(registries)];
  if (unique.length === 1) return unique[0]!.metrics();
  return Registry.merge(unique).metrics();
}
