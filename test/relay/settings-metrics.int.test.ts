import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { embeddedBus } from '../../src/bus/embedded/index.js';
import { getPartitionCount, setPartitionCount } from '../../src/store/settings.js';
import { createRelay } from '../../src/relay/relay.js';
import { isEventlaneError } from '../../src/errors.js';
import { dropSchema, storeTargets } from '../support/stores.js';
import { scaled } from '../support/time.js';

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`store settings and relay metrics (${target.name})`, () => {
    it('records P = 16 by default, lets it change only before first use, and refuses a change afterwards', async () => {
      const store = await target.open();
      try {
        expect(await getPartitionCount(store)).toBe(16);
        expect(await setPartitionCount(store, 32)).toBe(32);
        expect(await getPartitionCount(store)).toBe(32);
        await store.append('order-1', [{ type: 'order.created', data: {} }]);
        expect(await setPartitionCount(store, 32)).toBe(32); // the same value is fine
        const error = await setPartitionCount(store, 8).catch((e: unknown) => e);
        expect(isEventlaneError(error, 'EVENTLANE_INVALID_ARGUMENT')).toBe(true);
        expect(String((error as Error).message)).toMatch(/already uses 32 partitions/);
        await expect(setPartitionCount(store, 0)).rejects.toMatchObject({
          code: 'EVENTLANE_INVALID_ARGUMENT',
        });
      } finally {
        await store.close();
        if (store.driver === 'pg') await dropSchema(store.schema);
      }
    });

    it('exposes published, backlog, age and leadership as Prometheus metrics', async () => {
      const store = await target.open();
      const registry = new Registry();
      const relay = createRelay(store, { bus: embeddedBus(), name: 'metered', registry });
      try {
        await store.append('order-1', [
          { type: 'order.created', data: {} },
          { type: 'order.paid', data: {} },
        ]);
        await relay.start();
        await relay.caughtUp(scaled(10_000));
        const text = await registry.metrics();
        expect(text).toMatch(/eventlane_relay_published_events_total\{relay="metered"\} 2/);
        expect(text).toMatch(/eventlane_relay_leader\{relay="metered"\} 1/);
        expect(text).toMatch(/eventlane_relay_backlog_events\{relay="metered"\} 0/);
        expect(text).toMatch(/eventlane_relay_oldest_unpublished_age_seconds\{relay="metered"\} 0/);
        const stats = await relay.stats();
        expect(stats).toMatchObject({
          name: 'metered',
          leader: true,
          backlogEvents: 0,
          published: 2,
          errors: 0,
        });
      } finally {
        await relay.stop();
        await store.close();
        if (store.driver === 'pg') await dropSchema(store.schema);
      }
    });
  });
}
