import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { redisBus } from '../../src/bus/redis/index.js';
import { createEventStore } from '../../src/index.js';
import { createRelay } from '../../src/relay/relay.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, uniqueSchema } from '../support/stores.js';
import { busSuite } from './support/bus-suite.js';
import { cleanupBus, uniqueBusId } from './support/buses.js';

busSuite('redis', { streams: 200, perStream: 250 });

const services = inject('services');
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe.skipIf(!(services.postgres && services.redis))('redis delivery limit', () => {
  it('moves an entry that keeps failing to <keyPrefix>:dead:<consumer> and acknowledges it', async () => {
    const store = await createEventStore({ url: SERVICES.postgres.url, schema: uniqueSchema() });
    const id = uniqueBusId();
    cleanups.push(async () => {
      await store.close();
      await dropSchema(store.schema);
      await cleanupBus('redis', id);
    });
    const bus = redisBus({ url: SERVICES.redis.url, keyPrefix: id, maxDeliveries: 2 });
    const relay = createRelay(store, { bus, registry: null });
    cleanups.push(async () => {
      await relay.stop();
      await bus.close();
    });
    await relay.start();
    const attempts: number[] = [];
    await bus.subscribe({
      consumer: 'sub',
      partitions: Array.from({ length: 16 }, (_, i) => i),
      onMessage: async (d) => {
        attempts.push(d.attempt);
        await d.nack(50);
      },
    });
    const appended = await store.append('poison-1', [{ type: 'order.poison', data: {} }]);
    const r = new Redis(SERVICES.redis.url);
    cleanups.push(() => Promise.resolve(r.disconnect()));
    let dead: [string, string[]][] = [];
    for (let i = 0; i < 100 && dead.length === 0; i++) {
      await new Promise((res) => setTimeout(res, 100));
      dead = await r.xrange(`${id}:dead:sub`, '-', '+');
    }
    expect(dead.length).toBe(1);
    const fields = dead[0]![1];
    expect(fields[fields.indexOf('ce') + 1]).toContain(appended.ids[0]);
    expect(attempts).toEqual([1, 2]);
  });
});
