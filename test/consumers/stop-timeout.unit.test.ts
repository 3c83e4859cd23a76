import { describe, expect, it } from 'vitest';
import { createEventStore, createWorker, defineReactor } from '../../src/index.js';
import { scaled } from '../support/time.js';
import { waitFor } from './helpers.js';

const probe = defineReactor({ name: 'probe', handlers: { 'item.added': async () => {} } });

describe('worker.stop() is bounded by stopTimeoutMs (embedded store)', () => {
  it('resolves within the bound while a handler hangs, and says which partitions it abandoned', async () => {
    const store = await createEventStore();
    let release: () => void = () => undefined;
    const hang = new Promise<void>((r) => (release = r));
    try {
      let started = 0;
      const stuck = defineReactor({
        name: 'stuck',
        handlers: {
          'item.added': async () => {
            started++;
            // A handler waiting on a service that never answers.
            await hang;
          },
        },
      });
      const errors: Error[] = [];
      const worker = createWorker(store, {
        from: 'log',
        consumers: [stuck],
        partitions: 2,
        stopTimeoutMs: 300,
        onError: (e) => errors.push(e),
      });
      await store.append('s-1', [{ type: 'item.added', data: {} }]);
      await worker.start();
      await waitFor('the handler is running', () => started > 0, scaled(10_000));
      const t0 = performance.now();
      const stopped = await Promise.race([
        worker.stop().then(() => 'stopped' as const),
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), scaled(5_000))),
      ]);
      const took = performance.now() - t0;
      expect(stopped).toBe('stopped');
      expect(took).toBeGreaterThanOrEqual(290);
      expect(took).toBeLessThan(300 + scaled(2_000));
      expect(worker.partitions()).toEqual([]);
      expect(errors.map((e) => (e as { code?: string }).code)).toContain('EVENTLANE_WORKER_STATE');
      expect(errors.map((e) => e.message).join('\n')).toMatch(
        /stopTimeoutMs \(300 ms\).*partitions \[\d+\]/s,
      );
    } finally {
      release();
      await store.close();
    }
  });

  it('refuses a stopTimeoutMs a timer cannot wait for', () => {
    expect(() =>
      createWorker({ readLog: () => undefined } as never, {
        from: 'log',
        consumers: [probe],
        stopTimeoutMs: 2 ** 31,
      }),
    ).toThrow(/stopTimeoutMs must be a whole number of milliseconds from \d+ to 2147483647/);
  });
});
