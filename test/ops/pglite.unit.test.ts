import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createEventStore, createWorker, defineProjection } from '../../src/index.js';
import { createOpsHandler, listAudit, readOverview } from '../../src/ops/index.js';
import { waitFor } from '../consumers/helpers.js';

const TOKEN = 'embedded-token-0123456789';

describe('operations on the embedded store (PGlite)', () => {
  it('reads lag and parking, serves the API through the mountable fetch handler, and audits a skip', async () => {
    const store = await createEventStore();
    const ops = createOpsHandler({ store, token: TOKEN, registries: [new Registry()] });
    try {
      const worker = createWorker(store, {
        from: 'log',
        consumers: [
          defineProjection({
            name: 'picky',
            handlers: {
              'item.added': (e) => (e.stream === 'bad' ? Promise.reject(new Error('no')) : Promise.resolve()),
            },
          }),
        ],
        partitions: 2,
        retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      });
      await worker.start();
      await store.append('bad', [{ type: 'item.added', data: {} }]);
      await waitFor('parked', async () => (await worker.health())[0]!.parked === 1, 20_000);
      await worker.stop();
      for (let i = 0; i < 5; i++) await store.append('bad', [{ type: 'item.added', data: { i } }]);

      const overview = await readOverview(store);
      expect(overview.consumers).toEqual([
        expect.objectContaining({ name: 'picky', eventsBehind: 6, parked: 1 }),
      ]);

      const get = (path: string, token = TOKEN) =>
        ops.fetch(new Request(`http://ops${path}`, { headers: { authorization: `Bearer ${token}` } }));
      expect((await get('/api/overview', 'wrong-token-0123456789')).status).toBe(401);
      const parked = (await (await get('/api/parked')).json()) as { id: string }[];
      expect(parked).toHaveLength(1);
      const skip = await ops.fetch(
        new Request(`http://ops/api/parked/${parked[0]!.id}/skip`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}` },
          body: '{"reason":"test"}',
        }),
      );
      expect(skip.status).toBe(200);
      expect((await listAudit(store))[0]).toMatchObject({
        actor: 'admin',
        action: 'parked.skip',
        outcome: 'ok',
      });

      const text = await (await get('/metrics')).text();
      const lag = parsePrometheusTextFormat(text).find((f) => f.name === 'eventlane_db_consumer_lag_events');
      // The skip moved the order guard past the parked event: 5 behind, none parked.
      expect(lag?.metrics).toEqual([{ labels: { consumer: 'picky' }, value: '5' }]);
      expect((await get('/api/streams/%E0%A4%A')).status).toBe(200);
      expect(
        ((await (await get('/api/streams/a%00b')).json()) as { error: { code: string } }).error.code,
      ).toBe('EVENTLANE_INVALID_STREAM');
    } finally {
      await ops.close();
      await store.close();
    }
  });
});
