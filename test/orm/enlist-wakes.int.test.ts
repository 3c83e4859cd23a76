import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { embeddedBus } from '../../src/bus/embedded/index.js';
import {
  createEventStore,
  createWorker,
  defineProjection,
  type EventStore,
  type EventStoreTransaction,
} from '../../src/index.js';
import { createRelay } from '../../src/relay/relay.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable, uniqueSchema } from '../support/stores.js';
import { scaled } from '../support/time.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A store and the caller's own transactions on a connection of its own (a pg client, or the PGlite instance). */
interface Target {
  store: EventStore;
  inTransaction: (fn: (tx: EventStoreTransaction) => Promise<void>) => Promise<void>;
}

const targets: Record<string, { pg: boolean; open: () => Promise<Target> }> = {
  pg: {
    pg: true,
    async open() {
      const schema = uniqueSchema();
      const store = await createEventStore({ url: SERVICES.postgres.url, schema });
      const client = new pg.Client({ connectionString: SERVICES.postgres.url });
      await client.connect();
      cleanups.push(async () => {
        await client.end();
        await store.close();
        await dropSchema(schema);
      });
      return {
        store,
        async inTransaction(fn) {
          await client.query('begin');
          try {
            await fn(store.enlist(client));
            await client.query('commit');
          } catch (error) {
            await client.query('rollback');
            throw error;
          }
        },
      };
    },
  },
  pglite: {
    pg: false,
    async open() {
      const db = await PGlite.create();
      const store = await createEventStore({ pglite: db });
      cleanups.push(async () => {
        await store.close();
        await db.close();
      });
      return { store, inTransaction: (fn) => db.transaction((tx) => fn(store.enlist(tx))) };
    },
  },
};

const waitFor = async (done: () => boolean, ms: number): Promise<void> => {
  const deadline = performance.now() + ms;
  while (!done() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
};

/** An enlisted append whose transaction then throws: nothing may wake for it or be delivered. */
async function appendAndRollBack(inTransaction: Target['inTransaction']): Promise<void> {
  await expect(
    inTransaction(async (tx) => {
      await tx.append('order-ghost', [{ type: 'order.ghost', data: {} }]);
      throw new Error('payment declined');
    }),
  ).rejects.toThrow('payment declined');
}

for (const [name, { pg: needsPg, open }] of Object.entries(targets)) {
  describe.skipIf(needsPg && !pgAvailable())(`appends through enlist wake relays (${name})`, () => {
    it('a committed enlisted append reaches the bus well before the polling interval; a rolled-back one sends nothing', async () => {
      const { store, inTransaction } = await open();
      let notified = 0;
      const stopListening = await store.onCommit(() => notified++);
      cleanups.push(stopListening);
      const bus = embeddedBus();
      await bus.connect({ partitions: 16 });
      const arrived: { type: string; at: number }[] = [];
      await bus.subscribe({
        consumer: 'wakes',
        partitions: Array.from({ length: 16 }, (_, i) => i),
        onMessage: async (d) => {
          arrived.push({ type: d.event.type, at: performance.now() });
          await d.ack();
        },
      });
      // A polling interval far longer than the waits below: only a notification can wake the relay in time.
      const pollIntervalMs = scaled(30_000);
      const relay = createRelay(store, { bus, pollIntervalMs, registry: null });
      cleanups.push(() => relay.stop());
      await relay.start();
      await new Promise((r) => setTimeout(r, 300));

      await appendAndRollBack(inTransaction);
      await new Promise((r) => setTimeout(r, 300));
      expect(notified).toBe(0);
      expect(arrived).toEqual([]);

      const t0 = performance.now();
      await inTransaction(async (tx) => {
        await tx.append('order-1', [{ type: 'order.placed', data: {} }]);
        await tx.append('order-2', [{ type: 'order.placed', data: {} }]);
      });
      await waitFor(() => arrived.length >= 2, pollIntervalMs / 3);
      expect(arrived.map((a) => a.type)).toEqual(['order.placed', 'order.placed']);
      expect(arrived[1]!.at - t0).toBeLessThan(pollIntervalMs / 6);
      // The test's own listener may hear the NOTIFY a little after the relay's.
      await waitFor(() => notified > 0, pollIntervalMs / 6);
      await new Promise((r) => setTimeout(r, 100));
      // One transaction, one notification: PostgreSQL folds identical NOTIFYs of a transaction into one.
      expect(notified).toBe(1);
    });

    it('a log-mode worker idle for seconds handles a committed enlisted append at once, never a rolled-back one', async () => {
      const { store, inTransaction } = await open();
      const handled: { type: string; at: number }[] = [];
      const seen = defineProjection({
        name: 'seen',
        handlers: {
          'order.placed': (e) => {
            handled.push({ type: e.type, at: performance.now() });
            return Promise.resolve();
          },
          'order.ghost': (e) => {
            handled.push({ type: e.type, at: performance.now() });
            return Promise.resolve();
          },
        },
      });
      const worker = createWorker(store, { from: 'log', consumers: [seen], pollIntervalMs: 60_000 });
      cleanups.push(() => worker.stop());
      await worker.start();
      await appendAndRollBack(inTransaction);
      // Three rounds, each after the reader went idle (its pause grows from 1 ms towards pollIntervalMs): the fastest
      // counts, as another transaction in the cluster can hold a commit back from every log reader for a while.
      const latencies: number[] = [];
      for (let round = 1; round <= 3; round++) {
        await new Promise((r) => setTimeout(r, 3000));
        const t0 = performance.now();
        await inTransaction(async (tx) => {
          await tx.append(`order-${round}`, [{ type: 'order.placed', data: {} }]);
        });
        await waitFor(() => handled.length >= round, scaled(20_000));
        latencies.push(handled[round - 1]!.at - t0);
      }
      expect(handled.map((h) => h.type)).toEqual(['order.placed', 'order.placed', 'order.placed']);
      // Woken by the NOTIFY, the fastest round took 7–175 ms here (load 8–12, other test files running); by its own
      // polling alone, 1.1 s. Not scaled: a bound that grows with the time scale would let polling pass.
      expect(Math.min(...latencies)).toBeLessThan(500);
    });
  });
}
