import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { natsBus } from '../../src/bus/nats/index.js';
import { partitionOf } from '../../src/bus/partition.js';
import {
  createEventStore,
  createRelay,
  createWorker,
  defineProjection,
  ErrorCodes,
  isEventlaneError,
  type EventStore,
  type StoredEvent,
} from '../../src/index.js';
import { OrderPaid } from '../fixtures/contracts/events.js';
import { cleanupBus } from '../relay/support/buses.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, uniqueSchema } from '../support/stores.js';
import { openPgStore, waitFor } from './helpers.js';

/** A projection that records what its handler saw, one row per applied event. */
function recorder(store: EventStore, name = 'recorder') {
  const q = `"${store.schema}"`;
  return {
    setup: () =>
      store.executor.query(
        `create table ${q}.seen (stream text, position int, id uuid, version int, data jsonb,
           primary key (stream, position))`,
      ),
    rows: () =>
      store.executor.query<{ stream: string; position: number; id: string; version: number; data: unknown }>(
        `select stream, position, id::text as id, version, data from ${q}.seen order by stream, position`,
      ),
    projection: defineProjection({
      name,
      handlers: {
        'item.added': async (e, { query }) => {
          await query(`insert into ${q}.seen values ($1, $2, $3, $4, $5)`, [
            e.stream,
            e.streamPosition,
            e.id,
            e.version,
            JSON.stringify(e.data),
          ]);
        },
        'order.paid': async (e, { query }) => {
          await query(`insert into ${q}.seen values ($1, $2, $3, $4, $5)`, [
            e.stream,
            e.streamPosition,
            e.id,
            e.version,
            JSON.stringify(e.data),
          ]);
        },
      },
    }),
  };
}

/** A message the store never wrote: `stream` at `position`, with a fresh id. */
function forged(stream: string, position: number, over: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id: randomUUID(),
    type: 'item.added',
    version: 1,
    stream,
    streamPosition: position,
    globalPosition: 999_999n,
    checkpoint: '0:999999',
    data: { amount: 666 },
    metadata: {},
    occurredAt: new Date(),
    recordedAt: new Date(),
    ...over,
  };
}

describe.skipIf(!inject('services').postgres)('bus mode: the store is the truth', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('a forged event ahead of the stream is rejected, and the real event at that position is applied', async () => {
    const store = await openPgStore();
    cleanups.push(async () => {
      await store.close();
      await dropSchema(store.schema);
    });
    const rec = recorder(store);
    await rec.setup();
    const relay = createRelay(store, { name: 'truth', registry: null });
    const errors: Error[] = [];
    const worker = createWorker(store, {
      from: relay.bus,
      consumers: [rec.projection],
      onError: (e) => {
        errors.push(e);
        if (!isEventlaneError(e, ErrorCodes.DELIVERY_REJECTED)) console.error('worker error', e);
      },
    });
    await relay.start();
    await worker.start();
    try {
      await store.append('order-1', [{ type: 'item.added', data: { amount: 1 } }]);
      await relay.caughtUp(20_000);
      await waitFor('event 1 applied', async () => (await rec.rows()).length === 1);
      // A message for position 2 of a stream at version 1: the store has no such event.
      const fake = forged('order-1', 2);
      await relay.bus.publish([{ event: fake, partition: partitionOf('order-1', 16) }]);
      await store.append('order-1', [{ type: 'item.added', data: { amount: 2 } }], { expectedVersion: 1 });
      await relay.caughtUp(20_000);
      await waitFor('event 2 applied', async () => (await rec.rows()).length === 2);
      const real = await store.readStream('order-1');
      const rows = await rec.rows();
      expect(rows.map((r) => r.id)).toEqual(real.map((e) => e.id));
      expect(rows.map((r) => r.data)).toEqual([{ amount: 1 }, { amount: 2 }]);
      const rejected = errors.filter((e) => isEventlaneError(e, ErrorCodes.DELIVERY_REJECTED));
      expect(rejected.length).toBe(1);
      expect(rejected[0]!.message).toContain(fake.id);
      const metrics = await worker.metrics.getSingleMetricAsString('eventlane_consumer_rejected_total');
      expect(metrics).toContain('consumer="recorder",reason="unknown_event"} 1');
    } finally {
      await worker.stop();
      await relay.stop();
    }
  });

  it('a worker that subscribes to the embedded bus after the relay published catches up from the store', async () => {
    const store = await openPgStore();
    cleanups.push(async () => {
      await store.close();
      await dropSchema(store.schema);
    });
    const rec = recorder(store);
    await rec.setup();
    const relay = createRelay(store, { name: 'late', registry: null });
    await relay.start();
    const worker = createWorker(store, { from: relay.bus, consumers: [rec.projection] });
    try {
      for (let i = 0; i < 9; i++)
        await store.append(`late-${i % 3}`, [{ type: 'item.added', data: { amount: i } }]);
      await relay.caughtUp(20_000);
      expect((await relay.stats()).backlogEvents).toBe(0);
      await worker.start();
      await waitFor(
        'the 9 events published before the worker started applied',
        async () => (await worker.health())[0]!.eventsBehind === 0,
        20_000,
      );
      expect((await rec.rows()).length).toBe(9);
      // The embedded bus keeps nothing for a consumer it has not seen: all of it came from the store.
      expect(worker.stats()[0]!.readFromStore).toBe(9);
    } finally {
      await worker.stop();
      await relay.stop();
    }
  });

  it.skipIf(!inject('services').nats)(
    'a worker that starts behind a durable bus takes the backlog from the bus, not from the store as well',
    async () => {
      const suffix = randomBytes(4).toString('hex');
      const store = await openPgStore();
      cleanups.push(async () => {
        await cleanupBus('nats', `EL_BEHIND_${suffix}`);
        await store.close();
        await dropSchema(store.schema);
      });
      const rec = recorder(store);
      await rec.setup();
      const bus = () =>
        natsBus({
          servers: SERVICES.nats.url,
          stream: `EL_BEHIND_${suffix}`,
          subjectPrefix: `elbehind${suffix}`,
          storage: 'memory',
        });
      const relay = createRelay(store, { bus: bus(), name: `behind-${suffix}`, registry: null });
      await relay.start();
      // A worker that counts partitions otherwise than the store would miss what the relay publishes to the others.
      const miscounted = createWorker(store, { from: bus(), consumers: [rec.projection], partitions: 4 });
      await expect(miscounted.start()).rejects.toMatchObject({
        code: ErrorCodes.INVALID_ARGUMENT,
        message: expect.stringContaining('pass partitions: 16'),
      });
      const worker = createWorker(store, { from: bus(), consumers: [rec.projection] });
      try {
        for (let s = 0; s < 20; s++)
          await store.append(
            `behind-${s}`,
            Array.from({ length: 10 }, (_, i) => ({ type: 'item.added', data: { amount: i } })),
          );
        await relay.caughtUp(20_000);
        // Every stream is behind when the worker takes its partitions; the bus holds all of it.
        await worker.start();
        await waitFor('the 200 events applied', async () => (await rec.rows()).length === 200, 30_000);
        const [counters] = worker.stats();
        expect(counters!.applied).toBe(200);
        expect(counters!.readFromStore).toBe(0);
        expect(counters!.duplicates).toBe(0);
      } finally {
        await worker.stop();
        await relay.stop();
      }
    },
  );

  it.skipIf(!inject('services').nats)(
    'a handler in bus mode sees the current version of a contract (v1 stored, v2 seen), through NATS',
    async () => {
      const suffix = randomBytes(4).toString('hex');
      const store = await createEventStore({
        url: SERVICES.postgres.url,
        schema: uniqueSchema(),
        events: [OrderPaid],
        undeclaredEvents: 'allow',
      });
      cleanups.push(async () => {
        await cleanupBus('nats', `EL_TRUTH_${suffix}`);
        await store.close();
        await dropSchema(store.schema);
      });
      const rec = recorder(store, 'paid');
      await rec.setup();
      const bus = () =>
        natsBus({
          servers: SERVICES.nats.url,
          stream: `EL_TRUTH_${suffix}`,
          subjectPrefix: `eltruth${suffix}`,
          storage: 'memory',
        });
      const relay = createRelay(store, { bus: bus(), name: `truth-${suffix}`, registry: null });
      const worker = createWorker(store, {
        from: bus(),
        consumers: [rec.projection],
        onError: (e) => console.error('worker error', e),
      });
      await relay.start();
      await worker.start();
      try {
        await store.append('pay-1', [{ type: 'order.paid', version: 1, data: { orderId: 'o1', amount: 5 } }]);
        await waitFor('the payment applied', async () => (await rec.rows()).length === 1, 20_000);
        const [row] = await rec.rows();
        expect(row!.version).toBe(2);
        expect(row!.data).toEqual({ orderId: 'o1', amount: 5, currency: 'EUR' });
      } finally {
        await worker.stop();
        await relay.stop();
      }
    },
  );
});
