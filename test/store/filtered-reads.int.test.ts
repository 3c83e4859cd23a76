import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareCheckpoints, LOG_START, type EventStore, type StoredEvent } from '../../src/index.js';
import { dropSchema, storeTargets } from '../support/stores.js';

const ev = (type: string, n: number) => ({ type, data: { n } });

async function all(iterable: AsyncIterable<StoredEvent>): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for await (const e of iterable) out.push(e);
  return out;
}

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`filtered reads on ${target.name}`, () => {
    let store: EventStore;
    let everything: StoredEvent[];
    beforeAll(async () => {
      store = await target.open();
      await store.append('order-1', [ev('order.placed', 1), ev('order.paid', 2), ev('order.shipped', 3)]);
      await store.append('cart-1', [ev('cart.opened', 4), ev('order.paid', 5)]);
      // LIKE's wildcards in stream names: the prefix `a_` must not match `ab…`, nor `a%` match `a…`.
      await store.append('a_1', [ev('order.paid', 6)]);
      await store.append('ab1', [ev('order.paid', 7)]);
      await store.append('a%1', [ev('order.paid', 8)]);
      await store.append('order-2', [ev('order.placed', 9), ev('order.paid', 10)]);
      await store.append('cart-2', [ev('cart.opened', 11)]);
      everything = await all(store.iterateLog());
    });
    afterAll(async () => {
      await store?.close();
      if (target.name === 'pg') await dropSchema(store.schema);
    });
    const ns = (events: readonly StoredEvent[]) => events.map((e) => (e.data as { n: number }).n);

    it('readLog by event types, by stream prefix, and by both, in commit order', async () => {
      expect(ns(everything)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect(ns((await store.readLog({ types: ['order.paid'] })).events)).toEqual([2, 5, 6, 7, 8, 10]);
      expect(ns((await store.readLog({ types: ['cart.opened', 'order.placed'] })).events)).toEqual([
        1, 4, 9, 11,
      ]);
      expect(ns((await store.readLog({ streamPrefix: 'order-' })).events)).toEqual([1, 2, 3, 9, 10]);
      expect(ns((await store.readLog({ streamPrefix: 'a_' })).events)).toEqual([6]);
      expect(ns((await store.readLog({ streamPrefix: 'a%' })).events)).toEqual([8]);
      expect(ns((await store.readLog({ streamPrefix: 'cart-', types: ['order.paid'] })).events)).toEqual([5]);
      expect((await store.readLog({ types: ['no.such'] })).events).toEqual([]);
    });

    it('pages by checkpoint; a short page moves the checkpoint to the head, past events that do not match', async () => {
      const seen: number[] = [];
      let after = LOG_START;
      for (;;) {
        const page = await store.readLog({ after, limit: 2, types: ['order.paid'] });
        seen.push(...ns(page.events));
        if (page.events.length < 2) {
          // Every matching event up to the head was read: the checkpoint is the head, not the last match (8 is
          // followed by 9, 10 and 11).
          expect(page.checkpoint).toBe(everything[everything.length - 1]!.checkpoint);
          break;
        }
        after = page.checkpoint;
      }
      expect(seen).toEqual([2, 5, 6, 7, 8, 10]);
      const tail = await store.readLog({ after: everything[9]!.checkpoint, types: ['order.paid'] });
      expect(tail.events).toEqual([]);
      expect(compareCheckpoints(tail.checkpoint, everything[9]!.checkpoint)).toBeGreaterThan(0);
      // Nothing readable after the checkpoint: it stays where it was.
      const end = await store.readLog({ after: tail.checkpoint, types: ['order.paid'] });
      expect(end).toEqual({ events: [], checkpoint: tail.checkpoint });
    });

    it('iterateLog filters the same way and ends', async () => {
      expect(ns(await all(store.iterateLog({ types: ['order.paid'], pageSize: 2 })))).toEqual([
        2, 5, 6, 7, 8, 10,
      ]);
      expect(
        ns(await all(store.iterateLog({ streamPrefix: 'cart-', after: everything[3]!.checkpoint }))),
      ).toEqual([5, 11]);
      expect(await all(store.iterateLog({ types: ['no.such'] }))).toEqual([]);
    });

    it('readStream backwards from the end with a limit: the last N events', async () => {
      const last = await store.readStream('order-1', { direction: 'backward', limit: 2 });
      expect(last.map((e) => e.streamPosition)).toEqual([3, 2]);
      const before = await store.readStream('order-1', { direction: 'backward', from: 1, limit: 5 });
      expect(before.map((e) => e.streamPosition)).toEqual([1]);
    });

    it('refuses bad filters with a typed error', async () => {
      const cases: [unknown, RegExp][] = [
        [{ types: [] }, /types must be an array of 1 to 1000 event types/],
        [{ types: 'order.paid' }, /types must be an array/],
        [{ types: ['order paid'] }, /types holds "order paid", which is not an event type/],
        [{ types: [42] }, /types holds 42/],
        [{ streamPrefix: '' }, /streamPrefix must be the start of a stream name/],
        [{ streamPrefix: 7 }, /streamPrefix must be/],
        [{ streamPrefix: 'x'.repeat(257) }, /streamPrefix must be/],
      ];
      for (const [options, message] of cases) {
        await expect(store.readLog(options as never)).rejects.toThrow(message);
        await expect(store.readLog(options as never)).rejects.toMatchObject({
          code: 'EVENTLANE_INVALID_ARGUMENT',
        });
        await expect(all(store.iterateLog(options as never))).rejects.toThrow(message);
      }
    });
  });
}

const big = storeTargets().find((t) => t.name === 'pg')!;
describe.skipIf(!big.available)('filtered reads against a 100k-event log (pg)', () => {
  let store: EventStore;
  const STREAMS = 500;
  const PER_STREAM = 200;
  beforeAll(async () => {
    store = await big.open();
    // 100,000 events: 500 streams (`acct-…` and `user-…`) × 200; one event in 1,000 is `audit.flagged`.
    for (let s = 0; s < STREAMS; s++) {
      const prefix = s % 2 === 0 ? 'acct' : 'user';
      await store.append(
        `${prefix}-${s}`,
        Array.from({ length: PER_STREAM }, (_, i) => {
          const n = s * PER_STREAM + i;
          return { type: n % 1000 === 999 ? 'audit.flagged' : `ledger.k${n % 7}`, data: { n } };
        }),
      );
    }
  }, 300_000);
  afterAll(async () => {
    await store?.close();
    await dropSchema(store.schema);
  });

  it('finds exactly the rare type, and one prefix, across the whole log', async () => {
    const flagged = await all(store.iterateLog({ types: ['audit.flagged'], pageSize: 1000 }));
    expect(flagged).toHaveLength(100);
    expect(flagged.map((e) => (e.data as { n: number }).n)).toEqual(
      Array.from({ length: 100 }, (_, i) => i * 1000 + 999),
    );
    const page = await store.readLog({ types: ['audit.flagged'], limit: 10_000 });
    expect(page.events).toHaveLength(100);
    const user = await all(store.iterateLog({ streamPrefix: 'user-', types: ['ledger.k3'], pageSize: 5000 }));
    const expected = Array.from({ length: STREAMS * PER_STREAM }, (_, n) => n).filter(
      (n) => Math.floor(n / PER_STREAM) % 2 === 1 && n % 1000 !== 999 && n % 7 === 3,
    );
    expect(user.map((e) => (e.data as { n: number }).n)).toEqual(expected);
    expect(user.every((e) => e.stream.startsWith('user-'))).toBe(true);
  });
});
