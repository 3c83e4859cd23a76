import { readFileSync } from 'node:fs';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { listConsumers, registerDatabaseMetrics, renderMetrics } from '../../src/ops/index.js';
import { waitFor } from '../consumers/helpers.js';
import {
  createProjections,
  createRelay,
  createReplay,
  createWorker,
  defineProjection,
  embeddedBus,
} from '../../src/index.js';
import { pgAvailable } from '../support/stores.js';
import { seedStore, summaryProjection } from './seed.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = parsePrometheusTextFormat(text).find((f) => f.name === name);
  const sample = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample?.value === undefined ? undefined : Number(sample.value);
}

describe.skipIf(!pgAvailable())('database-read metrics (PostgreSQL)', () => {
  it('show the lag, parked counts and relay backlog of a store where nothing runs', async () => {
    const seeded = await seedStore({ projection: true });
    cleanups.push(() => seeded.cleanup());
    // A replay job part-way through (paused), and one that completed two hours ago.
    const replay = createReplay(seeded.store, {
      consumers: [defineProjection({ name: 'copy', handlers: { 'item.added': () => Promise.resolve() } })],
    });
    const old = await replay.start({ kind: 'backfill', consumer: 'copy' });
    await replay.wait(old.id);
    await seeded.store.executor.query(
      `update ${seeded.store.schema}.replay_jobs set finished_at = now() - interval '2 hours' where id = $1`,
      [old.id],
    );
    const job = await replay.start({
      kind: 'backfill',
      consumer: 'copy',
      reprocess: true,
      maxEventsPerSecond: 20,
    });
    await waitFor('a few events replayed', async () => (await replay.get(job.id)).done >= 3);
    await replay.pause(job.id);
    const paused = await replay.wait(job.id);
    expect(paused.state).toBe('paused');
    expect(paused.done).toBeLessThan(21);
    const db = registerDatabaseMetrics(seeded.store);
    cleanups.push(() => Promise.resolve(db.stop()));
    const registry = db.registry;
    const text = await renderMetrics([registry]);
    const families = parsePrometheusTextFormat(text);
    expect(families.length).toBeGreaterThanOrEqual(19);
    const jobLabels = { job: job.id, kind: 'backfill', consumer: 'copy', state: 'paused' };
    expect(value(text, 'eventlane_db_replay_job_done_events', jobLabels)).toBe(paused.done);
    expect(value(text, 'eventlane_db_replay_job_total_events', jobLabels)).toBe(21);
    expect(value(text, 'eventlane_db_replay_job_events_per_second', jobLabels)).toBeGreaterThan(0);
    expect(value(text, 'eventlane_db_replay_job_max_events_per_second', jobLabels)).toBe(20);
    expect(value(text, 'eventlane_db_replay_job_eta_seconds', jobLabels)).toBeGreaterThan(0);
    // A job that ended more than an hour ago has no series left.
    expect(text).not.toContain(old.id);
    const consumer = { consumer: 'totals' };
    expect(value(text, 'eventlane_db_consumer_lag_events', consumer)).toBe(21);
    expect(value(text, 'eventlane_db_consumer_parked_events', consumer)).toBe(1);
    expect(value(text, 'eventlane_db_consumer_lag_seconds', consumer)).toBeGreaterThan(0);
    expect(value(text, 'eventlane_db_consumer_oldest_parked_age_seconds', consumer)).toBeGreaterThan(0);
    expect(value(text, 'eventlane_db_relay_backlog_events', { relay: 'main' })).toBe(20);
    expect(
      value(text, 'eventlane_db_relay_oldest_unpublished_age_seconds', { relay: 'main' }),
    ).toBeGreaterThan(0);
    const projection = { projection: 'summary', version: '1' };
    expect(value(text, 'eventlane_db_projection_stalled', projection)).toBe(1);
    expect(value(text, 'eventlane_db_projection_parked_events', projection)).toBe(1);
    expect(value(text, 'eventlane_db_projection_lag_events', projection)).toBe(21);
    expect(value(text, 'eventlane_oldest_transaction_age_seconds')).toBeGreaterThanOrEqual(0);
    // Every database-read series is documented in docs/operations.md, and every documented one is served.
    const documented = new Set(
      readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8').match(/eventlane_db_\w+/g),
    );
    const served = new Set(families.map((f) => f.name).filter((n) => n.startsWith('eventlane_db_')));
    expect([...served].sort()).toEqual([...documented].sort());
    // A projection version's parked rows are not a consumer of their own.
    expect(text).not.toContain('consumer="summary@v1"');
  });

  it('serve next to the live series of a worker, a relay and projections in one process registry, as one document', async () => {
    const seeded = await seedStore({ projection: true });
    cleanups.push(() => seeded.cleanup());
    const processRegistry = new Registry();
    const db = registerDatabaseMetrics(seeded.store, { processRegistry });
    cleanups.push(() => Promise.resolve(db.stop()));
    const registry = db.registry;
    const worker = createWorker(seeded.store, {
      from: 'log',
      consumers: [defineProjection({ name: 'other', handlers: { 'item.added': () => Promise.resolve() } })],
      group: 'live',
      registry: processRegistry,
    });
    createRelay(seeded.store, { bus: embeddedBus(), name: 'live', registry: processRegistry });
    createProjections(seeded.store, {
      projections: [summaryProjection],
      schema: `${seeded.store.schema}_read`,
    }).registerMetrics(processRegistry);
    const text = await renderMetrics([processRegistry, registry]);
    const names = parsePrometheusTextFormat(text).map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('eventlane_consumer_events_total');
    expect(names).toContain('eventlane_oldest_transaction_age_seconds');
    expect(names).toContain('eventlane_relay_published_events_total');
    expect(names).toContain('eventlane_projection_stalled');
    expect(value(text, 'eventlane_db_consumer_lag_events', { consumer: 'totals' })).toBe(21);
    // The live worker reports its own consumer's lag: every event of the store, nothing applied yet.
    expect(value(text, 'eventlane_consumer_lag_events', { consumer: 'other' })).toBe(21);
    expect(worker.metrics).toBe(processRegistry);
  });

  it('show the breaker a live worker reports with its heartbeat, from a process that runs no worker', async () => {
    const seeded = await seedStore();
    cleanups.push(() => seeded.cleanup());
    const db = registerDatabaseMetrics(seeded.store);
    cleanups.push(() => Promise.resolve(db.stop()));
    const worker = createWorker(seeded.store, {
      from: 'log',
      consumers: [
        defineProjection({
          name: 'storm',
          handlers: { 'item.added': () => Promise.reject(new Error('down')) },
        }),
      ],
      group: 'storm',
      registry: new Registry(),
      heartbeatMs: 100,
      retry: { maxAttempts: 1000, baseDelayMs: 1, maxDelayMs: 5 },
      breaker: { threshold: 3, windowMs: 10_000, coolDownMs: 60_000 },
    });
    cleanups.push(() => worker.stop());
    await worker.start();
    await waitFor('the breaker to open', async () => {
      const [storm] = await listConsumers(seeded.store, 'storm');
      return storm?.breaker === 'open';
    });
    expect((await listConsumers(seeded.store, 'storm'))[0]).toMatchObject({ state: 'paused', workers: 1 });
    const text = await renderMetrics([db.registry]);
    expect(value(text, 'eventlane_db_consumer_breaker_state', { consumer: 'storm' })).toBe(2);
    // The seeded consumer has no live worker: no breaker series, and its state says so.
    expect(value(text, 'eventlane_db_consumer_breaker_state', { consumer: 'totals' })).toBeUndefined();
    expect((await listConsumers(seeded.store, 'totals'))[0]).toMatchObject({
      state: 'stopped',
      breaker: null,
    });
  });
});
