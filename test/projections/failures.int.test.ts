import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createEventStore,
  createProjections,
  parkedEvents,
  type EventStore,
  type Projections,
  type ProjectionsOptions,
} from '../../src/index.js';
import { quoteIdent } from '../../src/store/names.js';
import { dropSchema, pgAvailable } from '../support/stores.js';
import { openPgStore, sleep, waitFor } from '../consumers/helpers.js';
import { readTable, summary, waitReadable } from './fixtures/model.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

// The real server when it runs; the embedded store otherwise (`npm run test:embedded`): every test passed on both.
const TARGETS = pgAvailable() ? (['postgres'] as const) : (['pglite'] as const);
let target: 'postgres' | 'pglite' = 'pglite';

async function setup(): Promise<EventStore> {
  if (target === 'pglite') {
    const store = await createEventStore();
    cleanups.push(() => store.close());
    return store;
  }
  const store = await openPgStore();
  cleanups.push(async () => {
    await store.close();
    await dropSchema(store.schema);
  });
  return store;
}

function run(store: EventStore, options: ProjectionsOptions): Projections {
  const p = createProjections(store, options);
  cleanups.push(() => p.stop());
  return p;
}

/**
 * Three streams in this commit order: a1 b1 B2(poison) c1 a2 b3 c2. With the projection stopped at the poison
 * event, a1, b1 are applied and nothing after it.
 */
async function writePoisoned(store: EventStore): Promise<void> {
  await store.append('order-a', [{ type: 'order.created', data: {} }]);
  await store.append('order-b', [{ type: 'order.created', data: {} }]);
  await store.append('order-b', [{ type: 'order.boom', data: {} }]);
  await store.append('order-c', [{ type: 'order.created', data: {} }]);
  await store.append('order-a', [{ type: 'order.paid', data: {} }]);
  await store.append('order-b', [{ type: 'order.paid', data: {} }]);
  await store.append('order-c', [{ type: 'order.paid', data: {} }]);
  await waitReadable(store);
}

const counts = async (store: EventStore) =>
  Object.fromEntries(
    [...(await readTable(store, `${quoteIdent(store.schema)}.order_summary__v1`))].map(([s, r]) => [s, r.n]),
  );

describe.each(TARGETS)(
  'versioned projections on %s: retries, parking, operator retry/skip, breaker',
  (name) => {
    beforeEach(() => {
      target = name;
    });
    it('retries a poison event with backoff, parks it, reports it in progress(), and an operator retry catches up', async () => {
      const store = await setup();
      await writePoisoned(store);
      let failing = true;
      const errors: { at: number; message: string }[] = [];
      // When the poison event's handler runs: twice per attempt (the page, then one event at a time to find it).
      const calls: number[] = [];
      const p = run(store, {
        projections: [
          summary(1, {
            failOn: 'order.boom',
            failWhile: () => {
              calls.push(Date.now());
              return failing;
            },
          }),
        ],
        schema: store.schema,
        pollMs: 10,
        pageSize: 3,
        parkedPollMs: 50,
        retry: { maxAttempts: 3, baseDelayMs: 300, jitter: 0 },
        onError: (error) => errors.push({ at: Date.now(), message: error.message }),
      });
      await p.start();
      await waitFor(
        'the poison event to be parked',
        () => p.progress('order_summary').failure?.status === 'parked',
      );

      const progress = p.progress('order_summary');
      expect(progress.status).toBe('stalled');
      expect(progress.versionStatus).toBe('building');
      expect(progress.failure).toMatchObject({
        status: 'parked',
        stream: 'order-b',
        streamPosition: 2,
        eventType: 'order.boom',
        attempts: 3,
      });
      expect(progress.failure!.error).toContain('refusing order.boom');
      expect(progress.done).toBe(2);
      expect(progress.total).toBe(7);
      expect(progress.etaMs).toBeNull();
      // Three attempts, with the backoff between them (300 ms, then 600 ms), then no more.
      expect(errors.map((e) => e.message)).toEqual(Array(3).fill('refusing order.boom'));
      expect(calls).toHaveLength(6);
      // The next attempt is due the backoff after the failure is recorded, which is after its first call.
      expect(calls[2]! - calls[0]!).toBeGreaterThanOrEqual(295);
      expect(calls[4]! - calls[2]!).toBeGreaterThanOrEqual(595);
      await sleep(800);
      expect(errors).toHaveLength(3);
      expect(calls).toHaveLength(6);
      // Stopped exactly at the poison event: what came before it is applied, nothing after it.
      expect(await counts(store)).toEqual({ 'order-a': 1, 'order-b': 1 });
      const registry = new Registry();
      p.registerMetrics(registry);
      const metrics = await registry.metrics();
      expect(metrics).toContain('eventlane_projection_stalled{projection="order_summary",version="1"} 1');
      expect(metrics).toContain(
        'eventlane_projection_parked_events{projection="order_summary",version="1"} 1',
      );
      const [row] = await parkedEvents(store).list({ consumer: 'order_summary@v1' });
      expect(row).toMatchObject({ status: 'parked', stream: 'order-b', eventType: 'order.boom' });
      failing = false;
      const retried = await p.retry('order_summary');
      expect(retried.status).toBe('retrying');
      await p.waitLive('order_summary', 30_000);
      expect(await counts(store)).toEqual({ 'order-a': 2, 'order-b': 3, 'order-c': 2 });
      await waitFor('progress to catch up', () => p.progress('order_summary').done === 7);
      const after = p.progress('order_summary');
      expect(after).toMatchObject({ status: 'live', failure: null, done: 7, total: 7 });
      const [resolved] = await parkedEvents(store).list({
        consumer: 'order_summary@v1',
        status: ['resolved'],
      });
      expect(resolved).toMatchObject({ eventType: 'order.boom' });
    });

    it('skip moves past a parked event (batch handler: the page before it is applied, the failing event found)', async () => {
      const store = await setup();
      await writePoisoned(store);
      const p = run(store, {
        projections: [summary(1, { failOn: 'order.boom', batch: true })],
        schema: store.schema,
        pollMs: 10,
        parkedPollMs: 50,
        retry: { maxAttempts: 1 },
      });
      await p.start();
      await waitFor(
        'the poison event to be parked',
        () => p.progress('order_summary').failure?.status === 'parked',
      );
      expect(p.progress('order_summary')).toMatchObject({ status: 'stalled', done: 2 });
      expect(await counts(store)).toEqual({ 'order-a': 1, 'order-b': 1 });

      const skipped = await p.skip('order_summary', { by: 'ops', reason: 'bad data' });
      expect(skipped).toMatchObject({ status: 'skipped', skippedBy: 'ops', eventType: 'order.boom' });
      await p.waitLive('order_summary', 30_000);
      // The poison event is never applied: order-b counts its created and paid events only.
      expect(await counts(store)).toEqual({ 'order-a': 2, 'order-b': 2, 'order-c': 2 });
      await waitFor('progress to move past the skip', () => p.progress('order_summary').failure === null);
      expect(p.progress('order_summary').status).toBe('live');
      const q = quoteIdent(store.schema);
      const [row] = await store.executor.query<{ caught: boolean }>(
        `select caught_up_at is not null as caught from ${q}.parked_events where consumer = 'order_summary@v1'`,
      );
      expect(row!.caught).toBe(true);
    });

    it('opens the breaker on a burst of failures and pauses the attempts for the cool-down', async () => {
      const store = await setup();
      await writePoisoned(store);
      let calls = 0;
      const p = run(store, {
        projections: [
          summary(1, {
            failOn: 'order.boom',
            failWhile: () => {
              calls++;
              return true;
            },
          }),
        ],
        schema: store.schema,
        pollMs: 10,
        retry: { maxAttempts: 1000, baseDelayMs: 1, maxDelayMs: 1, jitter: 0 },
        breaker: { threshold: 3, windowMs: 10_000, coolDownMs: 60_000 },
      });
      await p.start();
      await waitFor('the breaker to open', () => p.progress('order_summary').breaker === 'open');
      const seen = calls;
      await sleep(700);
      expect(calls).toBe(seen);
      expect(p.progress('order_summary')).toMatchObject({ status: 'stalled', breaker: 'open' });
      expect(p.progress('order_summary').failure).toMatchObject({
        status: 'retrying',
        eventType: 'order.boom',
      });
    });

    it('a failing read-ahead page (of a live version) is no unhandled rejection', async () => {
      const base = await setup();
      // Live on the empty log first: pages of a live version are read ahead (a building one is built by its
      // rebuild job, page by page).
      const first = run(base, { projections: [summary(1)], schema: base.schema, pollMs: 10 });
      await first.start();
      await first.waitLive('order_summary', 30_000);
      await first.stop();
      await writePoisoned(base);
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      cleanups.push(() => {
        process.off('unhandledRejection', onUnhandled);
        return Promise.resolve();
      });
      let reads = 0;
      // The store as the runner sees it: its second page read (the read-ahead) fails after a while.
      const store = new Proxy(base, {
        get(target, key) {
          if (key === 'readLog') {
            return async (o: Parameters<EventStore['readLog']>[0]) => {
              if (++reads === 2) {
                await sleep(200);
                throw new Error('page read failed');
              }
              return target.readLog(o);
            };
          }
          const value: unknown = Reflect.get(target, key, target);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      let failing = true;
      const p = run(store, {
        // The first page (a1 b1 B2) fails at its poison event while the read-ahead is still in flight.
        projections: [summary(1, { failOn: 'order.boom', failWhile: () => failing })],
        schema: base.schema,
        pollMs: 10,
        pageSize: 3,
        retry: { maxAttempts: 2, baseDelayMs: 50 },
      });
      await p.start();
      await waitFor('the read-ahead', () => reads >= 2);
      await sleep(500);
      expect(unhandled).toEqual([]);
      await waitFor(
        'the poison event to be parked',
        () => p.progress('order_summary').failure?.status === 'parked',
      );
      failing = false;
      await p.retry('order_summary');
      await p.waitLive('order_summary', 30_000);
      expect(await counts(base)).toEqual({ 'order-a': 2, 'order-b': 3, 'order-c': 2 });
    });

    it('stop() during a back-off resolves promptly', async () => {
      const store = await setup();
      await writePoisoned(store);
      let failures = 0;
      const p = run(store, {
        projections: [summary(1, { failOn: 'order.boom' })],
        schema: store.schema,
        retry: { maxAttempts: 5, baseDelayMs: 60_000 },
        onError: () => failures++,
      });
      await p.start();
      await waitFor('the first failure', () => failures > 0);
      await sleep(100);
      const started = Date.now();
      await expect(p.stop()).resolves.toBeUndefined();
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(failures).toBe(1);
    });
  },
);
