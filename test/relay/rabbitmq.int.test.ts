import amqp from 'amqplib';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { rabbitmqBus } from '../../src/bus/rabbitmq/index.js';
import { createEventStore } from '../../src/index.js';
import { createRelay } from '../../src/relay/relay.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, uniqueSchema } from '../support/stores.js';
import { busSuite } from './support/bus-suite.js';
import { cleanupBus, uniqueBusId } from './support/buses.js';

busSuite('rabbitmq', { streams: 200, perStream: 250 });

const services = inject('services');
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe.skipIf(!(services.postgres && services.rabbitmq))('rabbitmq delivery limit', () => {
  it('dead-letters a message that keeps failing to <exchange>.<consumer>.dead', async () => {
    const store = await createEventStore({ url: SERVICES.postgres.url, schema: uniqueSchema() });
    const id = uniqueBusId();
    cleanups.push(async () => {
      await store.close();
      await dropSchema(store.schema);
      await cleanupBus('rabbitmq', id);
    });
    const bus = rabbitmqBus({
      url: SERVICES.rabbitmq.url,
      exchange: id,
      consumers: ['sub'],
      deliveryLimit: 2,
    });
    const relay = createRelay(store, { bus, registry: null });
    cleanups.push(async () => {
      await relay.stop();
      await bus.close();
    });
    await relay.start();
    let deliveries = 0;
    await bus.subscribe({
      consumer: 'sub',
      partitions: Array.from({ length: 16 }, (_, i) => i),
      onMessage: async (d) => {
        deliveries++;
        await d.nack();
      },
    });
    const appended = await store.append('poison-1', [{ type: 'order.poison', data: {} }]);
    const conn = await amqp.connect(SERVICES.rabbitmq.url);
    cleanups.push(() => conn.close());
    const ch = await conn.createChannel();
    let dead: amqp.GetMessage | false = false;
    for (let i = 0; i < 100 && !dead; i++) {
      await new Promise((r) => setTimeout(r, 100));
      dead = await ch.get(`${id}.sub.dead`, { noAck: true });
    }
    expect(dead).not.toBe(false);
    expect((dead as amqp.GetMessage).properties.messageId).toBe(appended.ids[0]);
    expect(deliveries).toBeGreaterThanOrEqual(2);
  });
});
