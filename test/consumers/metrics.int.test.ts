import pg from 'pg';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createRelay,
  createWorker,
  defineProjection,
  defineReactor,
  parkedEvents,
  type EventStore,
  type Worker,
} from '../../src/index.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable } from '../support/stores.js';
import { appendSpread, openPgStore, waitFor } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(): Promise<EventStore> {
  const store = await openPgStore();
  cleanups.push(async () => {
    await store.close();
    await dropSchema(store.schema);
  });
  return store;
}

function track(worker: Worker): Worker {
  cleanups.push(() => worker.stop());
  return worker;
}

/** The value of one sample of a Prometheus text exposition, or undefined when the sample is missing. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const failBad = defineProjection({
  name: 'totals',
  handlers: {
    'item.added': async (e) => {
      await Promise.resolve();
      if (e.stream === 'bad') throw new Error('poison');
    },
  },
});

const workerOptions = {
  from: 'log' as const,
  consumers: [failBad],
  partitions: 2,
  group: 'metrics',
  retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
};

describe.skipIf(!pgAvailable())('worker metrics tell the truth (PostgreSQL)', () => {
  it('shows lag and parked counts on the first scrape, and fresh values on the next', async () => {
    const store = await setup();
    const first = track(createWorker(store, workerOptions));
    await first.start();
    await store.append('bad', [{ type: 'item.added', data: { amount: 1 } }]);
    await waitFor('the poison event parked', async () => (await first.health())[0]!.parked === 1);
    await first.stop();
    // Appended while no worker runs: the consumer is 20 events behind, plus the parked one.
    await appendSpread(store, 20, 5);
    await new Promise((r) => setTimeout(r, 1100));

    const worker = track(createWorker(store, workerOptions));
    const text = await worker.metrics.metrics();
    const [truth] = await worker.health();
    expect(truth).toMatchObject({ eventsBehind: 21, parked: 1 });
    const labels = '{consumer="totals"}';
    expect(sample(text, 'eventlane_consumer_lag_events', labels)).toBe(21);
    expect(sample(text, 'eventlane_consumer_parked_events', labels)).toBe(1);
    const seconds = sample(text, 'eventlane_consumer_lag_seconds', labels);
    expect(seconds).toBeGreaterThanOrEqual(1);
    expect(Math.abs(seconds! - truth!.secondsBehind)).toBeLessThan(5);

    await worker.start();
    await waitFor(
      'caught up but the parked event',
      async () => (await worker.health())[0]!.eventsBehind === 1,
    );
    const [parked] = await parkedEvents(store).list({ consumer: 'totals' });
    await parkedEvents(store).skip(parked!.id, { by: 'test' });
    const after = await worker.metrics.metrics();
    expect(sample(after, 'eventlane_consumer_lag_events', labels)).toBe(0);
    expect(sample(after, 'eventlane_consumer_parked_events', labels)).toBe(0);
    expect(sample(after, 'eventlane_consumer_lag_seconds', labels)).toBe(0);
  });

  it('counts breaker openings', async () => {
    const store = await setup();
    const reactor = defineReactor({
      name: 'mailer',
      handlers: {
        'item.added': async () => {
          await Promise.resolve();
          throw new Error('dependency down');
        },
      },
    });
    const worker = track(
      createWorker(store, {
        from: 'log',
        consumers: [reactor],
        partitions: 2,
        retry: { maxAttempts: 1000, baseDelayMs: 1, maxDelayMs: 5 },
        breaker: { threshold: 5, windowMs: 10_000, coolDownMs: 60_000 },
      }),
    );
    const before = await worker.metrics.metrics();
    expect(sample(before, 'eventlane_consumer_breaker_opened_total', '{consumer="mailer"}')).toBe(0);
    await appendSpread(store, 20, 10);
    await worker.start();
    await waitFor('breaker open', async () => (await worker.health())[0]!.breaker === 'open', 20_000, 10);
    const text = await worker.metrics.metrics();
    expect(sample(text, 'eventlane_consumer_breaker_opened_total', '{consumer="mailer"}')).toBe(1);
  });

  it('reports the age of the oldest open transaction in metrics and health', async () => {
    const store = await setup();
    const worker = track(createWorker(store, workerOptions));
    const relayRegistry = new Registry();
    const relay = createRelay(store, { registry: relayRegistry });
    cleanups.push(() => relay.stop());
    await relay.start();
    const client = new pg.Client({ connectionString: SERVICES.postgres.url });
    await client.connect();
    try {
      // Short on purpose: an open transaction with an xid delays every log reader on the cluster.
      await client.query('begin');
      await client.query('select pg_current_xact_id()');
      // Wait on this transaction's own age (now() is its start), not on the server-wide figure, which other
      // transactions on the machine could satisfy by themselves.
      await waitFor(
        'the transaction to be a second old',
        async () => {
          const { rows } = await client.query<{ age: number }>(
            'select extract(epoch from clock_timestamp() - now())::float8 as age',
          );
          return rows[0]!.age >= 1;
        },
        10_000,
        100,
      );
      expect((await store.health()).oldestTransactionAgeSeconds).toBeGreaterThanOrEqual(1);
      const text = await worker.metrics.metrics();
      expect(sample(text, 'eventlane_oldest_transaction_age_seconds')).toBeGreaterThanOrEqual(1);
      const relayText = await relayRegistry.metrics();
      expect(sample(relayText, 'eventlane_oldest_transaction_age_seconds')).toBeGreaterThanOrEqual(1);
    } finally {
      await client.query('rollback').catch(() => undefined);
      await client.end();
    }
  });
});
