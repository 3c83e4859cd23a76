import { afterEach, describe, expect, it } from 'vitest';
import { embeddedBus } from '../../src/bus/embedded/index.js';
import { partitionOf } from '../../src/bus/partition.js';
import type { Delivery } from '../../src/bus/types.js';
import type { EventStore } from '../../src/index.js';
import { createRelay, type Relay } from '../../src/relay/relay.js';
import { getPartitionCount } from '../../src/store/settings.js';
import { dropSchema, storeTargets } from '../support/stores.js';
import { scaled } from '../support/time.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function open(target: ReturnType<typeof storeTargets>[number]): Promise<EventStore> {
  const store = await target.open();
  cleanups.push(async () => {
    await store.close();
    if (store.driver === 'pg') await dropSchema(store.schema);
  });
  return store;
}

function started(relay: Relay): Relay {
  cleanups.push(() => relay.stop());
  return relay;
}

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`relay on the embedded bus (${target.name})`, () => {
    it('publishes every committed event once, per stream in order, and moves its checkpoint', async () => {
      const store = await open(target);
      const bus = embeddedBus();
      const seen = new Map<string, number[]>();
      await bus.connect({ partitions: await getPartitionCount(store) });
      await bus.subscribe({
        consumer: 'test',
        partitions: Array.from({ length: 16 }, (_, i) => i),
        onMessage: async (d: Delivery) => {
          const list = seen.get(d.event.stream) ?? [];
          list.push(d.event.streamPosition);
          seen.set(d.event.stream, list);
          expect(d.partition).toBe(partitionOf(d.event.stream, 16));
          await d.ack();
        },
      });
      const relay = started(createRelay(store, { bus, batchSize: 100, registry: null }));
      await relay.start();
      const streams = 20;
      const perStream = 50;
      await Promise.all(
        Array.from({ length: streams }, async (_, s) => {
          for (let i = 0; i < perStream; i += 10) {
            await store.append(
              `order-${s}`,
              Array.from({ length: 10 }, (_, k) => ({ type: 'order.noted', data: { n: i + k } })),
            );
          }
        }),
      );
      await relay.caughtUp(scaled(20_000));
      expect(seen.size).toBe(streams);
      for (const positions of seen.values()) {
        expect(positions).toEqual(Array.from({ length: perStream }, (_, i) => i + 1));
      }
      const stats = await relay.stats();
      expect(stats.leader).toBe(true);
      expect(stats.backlogEvents).toBe(0);
      expect(stats.published).toBe(streams * perStream);
      expect(stats.errors).toBe(0);
    });

    it('wakes on commit: an append reaches the subscriber well before the polling interval', async () => {
      const store = await open(target);
      const bus = embeddedBus();
      await bus.connect({ partitions: 16 });
      const arrived: number[] = [];
      await bus.subscribe({
        consumer: 'latency',
        partitions: Array.from({ length: 16 }, (_, i) => i),
        onMessage: async (d) => {
          arrived.push(performance.now());
          await d.ack();
        },
      });
      const relay = started(createRelay(store, { bus, pollIntervalMs: 10_000, registry: null }));
      await relay.start();
      await new Promise((r) => setTimeout(r, 200));
      const t0 = performance.now();
      await store.append('order-1', [{ type: 'order.created', data: {} }]);
      for (let i = 0; i < 1000 && arrived.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      expect(arrived.length).toBe(1);
      // Well under the 10 s polling interval: the NOTIFY woke the relay (a loaded machine can take a while).
      expect(arrived[0]! - t0).toBeLessThan(5000);
    });

    it('publishes no ghost: a transaction that appends and then throws leaves nothing on the bus', async () => {
      const store = await open(target);
      const bus = embeddedBus();
      await bus.connect({ partitions: 16 });
      const types: string[] = [];
      await bus.subscribe({
        consumer: 'ghosts',
        partitions: Array.from({ length: 16 }, (_, i) => i),
        onMessage: async (d) => {
          types.push(d.event.type);
          await d.ack();
        },
      });
      const relay = started(createRelay(store, { bus, registry: null }));
      await relay.start();
      await expect(
        store.transaction(async (tx) => {
          await tx.append('order-ghost', [{ type: 'order.ghost', data: {} }]);
          throw new Error('business rule failed');
        }),
      ).rejects.toThrow('business rule failed');
      await store.append('order-real', [{ type: 'order.real', data: {} }]);
      await relay.caughtUp(scaled(10_000));
      await new Promise((r) => setTimeout(r, 50));
      expect(types).toEqual(['order.real']);
    });

    it('keeps one active relay per name; the standby takes over when the active one stops', async () => {
      const store = await open(target);
      const bus = embeddedBus();
      await bus.connect({ partitions: 16 });
      const a = started(createRelay(store, { bus, name: 'pair', registry: null, standbyPollMs: 100 }));
      const b = started(createRelay(store, { bus, name: 'pair', registry: null, standbyPollMs: 100 }));
      await a.start();
      await new Promise((r) => setTimeout(r, 100));
      await b.start();
      await store.append('order-1', [{ type: 'order.created', data: {} }]);
      await a.caughtUp(scaled(5000));
      expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
      await a.stop();
      await store.append('order-1', [{ type: 'order.paid', data: {} }]);
      const t0 = Date.now();
      await b.caughtUp(scaled(5000));
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(b.isLeader()).toBe(true);
      expect((await b.stats()).published).toBe(1);
    });

    it("a relay whose lease was taken over stops publishing and never moves the new holder's checkpoint", async () => {
      const store = await open(target);
      const bus = embeddedBus();
      await bus.connect({ partitions: 16 });
      let delivered = 0;
      await bus.subscribe({
        consumer: 'fence',
        partitions: Array.from({ length: 16 }, (_, i) => i),
        onMessage: async (d) => {
          delivered++;
          await d.ack();
        },
      });
      const relay = started(createRelay(store, { bus, name: 'fenced', registry: null, leaseMs: 60_000 }));
      await relay.start();
      await store.append('order-1', [{ type: 'order.created', data: {} }]);
      await relay.caughtUp(scaled(5000));
      expect(relay.isLeader()).toBe(true);
      // Another relay takes over (as after a long pause of this one): the token moves on, the checkpoint is reset.
      const q = `"${store.schema}".relay_checkpoints`;
      await store.executor.query(
        `update ${q} set fencing_token = fencing_token + 1, owner = 'someone-else', checkpoint = '0:0' where name = 'fenced'`,
      );
      const before = delivered;
      await store.append('order-1', [{ type: 'order.paid', data: {} }]);
      for (let i = 0; i < 100 && relay.isLeader(); i++) await new Promise((r) => setTimeout(r, 20));
      expect(relay.isLeader()).toBe(false);
      // At most the batch it had started before learning of the takeover went out; nothing after.
      await new Promise((r) => setTimeout(r, 300));
      const after = delivered;
      await store.append('order-1', [{ type: 'order.shipped', data: {} }]);
      await new Promise((r) => setTimeout(r, 500));
      expect(after - before).toBeLessThanOrEqual(1);
      expect(delivered).toBe(after);
      const [row] = await store.executor.query<{ checkpoint: string; owner: string }>(
        `select checkpoint, owner from ${q} where name = 'fenced'`,
      );
      expect(row).toEqual({ checkpoint: '0:0', owner: 'someone-else' });
    });

    it('refuses bad options with typed errors', () => {
      expect(() => createRelay({} as EventStore, { batchSize: 0 })).toThrow(
        expect.objectContaining({ code: 'EVENTLANE_INVALID_ARGUMENT' }),
      );
      expect(() => createRelay({} as EventStore, { name: 'bad name!' })).toThrow(
        expect.objectContaining({ code: 'EVENTLANE_INVALID_ARGUMENT' }),
      );
    });
  });
}
