import { describe, expect, it } from 'vitest';
import { createEventStore } from '../../src/index.js';
import { safeCallback } from '../../src/errors.js';
import { createRelay } from '../../src/relay/relay.js';
import type { Bus } from '../../src/bus/types.js';
import { scaled } from '../support/time.js';

describe('an onError callback that throws', () => {
  it('safeCallback drops what a callback throws or rejects with, after calling it', async () => {
    const calls: string[] = [];
    const sync = safeCallback((e: string) => {
      calls.push(e);
      throw new Error('callback broke');
    });
    const rejecting = safeCallback(async (e: string) => {
      calls.push(e);
      await Promise.resolve();
      throw new Error('async callback broke');
    });
    expect(() => sync('a')).not.toThrow();
    expect(() => rejecting('b')).not.toThrow();
    await new Promise((r) => setTimeout(r, 10)); // an unhandled rejection would fail this test file
    expect(calls).toEqual(['a', 'b']);
  });

  it('does not stop a relay whose bus keeps failing (embedded store)', async () => {
    const store = await createEventStore();
    let attempts = 0;
    const bus: Bus = {
      kind: 'failing',
      connect: () => Promise.resolve(),
      publish: () => {
        attempts++;
        return Promise.reject(new Error('broker down'));
      },
      subscribe: () => Promise.reject(new Error('not used')),
      close: () => Promise.resolve(),
    };
    let reported = 0;
    const relay = createRelay(store, {
      bus,
      registry: null,
      initialBackoffMs: 5,
      maxBackoffMs: 20,
      onError: () => {
        reported++;
        throw new Error('the operator callback itself is broken');
      },
    });
    try {
      await store.append('s-1', [{ type: 'thing.happened', data: {} }]);
      await relay.start();
      const deadline = Date.now() + scaled(20_000);
      while (reported < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(reported).toBeGreaterThanOrEqual(3);
      expect(attempts).toBeGreaterThanOrEqual(3);
      expect((await relay.stats()).errors).toBeGreaterThanOrEqual(3);
    } finally {
      await relay.stop();
      await store.close();
    }
  });
});
