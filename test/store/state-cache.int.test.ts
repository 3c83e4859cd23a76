import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createEventStore,
  createStateCache,
  defineEvent,
  isEventlaneError,
  type EventStore,
  type HandleOptions,
  type NewEvent,
  type StoredEvent,
} from '../../src/index.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, storeTargets } from '../support/stores.js';

interface Tally {
  count: number;
  total: number;
}

/** Defined once: a state cache serves one evolve function. */
const evolve = (state: Tally, e: StoredEvent): Tally => {
  const { by } = e.data as { by: number };
  return { count: state.count + 1, total: state.total + by };
};
const initialState = (): Tally => ({ count: 0, total: 0 });
const add = (by: number): NewEvent[] => [{ type: 'tally.added', data: { by } }];

async function fold(store: EventStore, stream: string): Promise<Tally> {
  return (await store.readStream(stream)).reduce(evolve, initialState());
}

/** Counts the stream reads a store sends (its readStream statement), to show which commands read. */
function countStreamReads(store: EventStore): { reads: () => number; stop: () => void } {
  const executor = store.executor;
  const original = executor.query;
  let reads = 0;
  executor.query = (text: string, params?: readonly unknown[], options?: { prepare?: boolean }) => {
    if (/from \S+\.events\s+where stream = \$1 and stream_position/.test(text)) reads++;
    return original(text, params, options);
  };
  return { reads: () => reads, stop: () => void (executor.query = original) };
}

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`store.handle with a state cache on ${target.name}`, () => {
    let store: EventStore;
    let other: EventStore;
    beforeAll(async () => {
      store = await target.open({ poolSize: 8 });
      // A second writer on the same log (another process, in effect: its own pool, no access to this cache).
      other =
        target.name === 'pg'
          ? await createEventStore({ url: SERVICES.postgres.url, schema: store.schema, poolSize: 4 })
          : store;
    });
    afterAll(async () => {
      if (other !== store) await other?.close();
      await store?.close();
      if (target.name === 'pg') await dropSchema(store.schema);
    });

    it('decides from the cached state without reading the stream again, and agrees with a full fold', async () => {
      const cache = createStateCache<Tally>();
      const options: HandleOptions<Tally, StoredEvent> = { evolve, initialState, cache };
      const counter = countStreamReads(store);
      try {
        for (let i = 1; i <= 5; i++) await store.handle('c-1', () => add(i), options);
      } finally {
        counter.stop();
      }
      // Only the first command read the stream (which was empty); the other four started from the cache.
      expect(counter.reads()).toBe(1);
      expect(cache.stats).toEqual({ hits: 4, misses: 1, size: 1 });
      const { state, version } = await store.handle('c-1', () => [], options);
      expect(version).toBe(5);
      expect(state).toEqual(await fold(store, 'c-1'));
      expect(state).toEqual({ count: 5, total: 15 });
    });

    it('a write by another writer makes the cached state stale: the append conflicts, the retry reads afresh', async () => {
      const cache = createStateCache<Tally>();
      const options = { evolve, initialState, cache };
      await store.handle('c-2', () => add(1), options);
      await other.append('c-2', add(100), { expectedVersion: 1 });
      const seen: Tally[] = [];
      const result = await store.handle(
        'c-2',
        (state) => {
          seen.push(state);
          return add(state.total > 50 ? 1000 : 10);
        },
        options,
      );
      // The first attempt decided on the stale state (total 1) and its append was refused; the second read 101.
      expect(seen).toEqual([
        { count: 1, total: 1 },
        { count: 2, total: 101 },
      ]);
      expect(result.attempts).toBe(2);
      expect(result.state).toEqual({ count: 3, total: 1101 });
      expect(await fold(store, 'c-2')).toEqual(result.state);
      expect(cache.get('c-2')).toMatchObject({ version: 3, state: { count: 3, total: 1101 } });
    });

    it('keeps nothing of an attempt that failed: a decision that throws after writing through tx', async () => {
      const cache = createStateCache<Tally>();
      const options = { evolve, initialState, cache };
      await store.handle('c-3', () => add(1), options);
      await expect(
        store.handle(
          'c-3',
          async (_state, { tx }) => {
            await tx.query('select 1');
            throw new Error('refused');
          },
          options,
        ),
      ).rejects.toThrow('refused');
      expect(cache.get('c-3')).toBeUndefined();
      const counter = countStreamReads(store);
      try {
        const { state } = await store.handle('c-3', () => add(2), options);
        expect(state).toEqual({ count: 2, total: 3 });
      } finally {
        counter.stop();
      }
      expect(counter.reads()).toBe(1);
    });

    it('keeps snapshots due every `every` events when commands start from the cache', async () => {
      const cache = createStateCache<Tally>();
      const options = { evolve, initialState, cache, snapshots: { name: 'tally', every: 3, version: 1 } };
      for (let i = 1; i <= 7; i++) await store.handle('c-4', () => add(i), options);
      const rows = await store.executor.query<{ stream_version: string }>(
        `select stream_version::text from ${store.schema}.snapshots where stream = 'c-4' and name = 'tally'`,
      );
      expect(rows.map((r) => Number(r.stream_version))).toEqual([6]);
      // A new process (no cache) starts from that snapshot and reaches the same state as the cached one.
      const fresh = await store.handle('c-4', () => [], {
        evolve,
        initialState,
        snapshots: options.snapshots,
      });
      expect(fresh.state).toEqual(cache.get('c-4')!.state);
      expect(fresh.state).toEqual(await fold(store, 'c-4'));
    });

    it('drops the least recently used stream beyond maxStreams', async () => {
      const cache = createStateCache<Tally>({ maxStreams: 2 });
      const options = { evolve, initialState, cache };
      for (const s of ['l-1', 'l-2', 'l-1', 'l-3']) await store.handle(s, () => add(1), options);
      expect(cache.size).toBe(2);
      expect(cache.get('l-2')).toBeUndefined();
      expect(cache.get('l-1')?.version).toBe(2);
      expect(cache.get('l-3')?.version).toBe(1);
    });

    it('two writers with caches of their own never lose a command (random interleavings)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 2 })), { maxLength: 25 }),
          async (steps) => {
            const run = `p-${Math.random().toString(36).slice(2)}`;
            const caches = [createStateCache<Tally>(), createStateCache<Tally>()];
            const stores = [store, other];
            await Promise.all(
              steps.map(([who, s], i) =>
                stores[who ? 1 : 0]!.handle(`${run}-${s}`, () => add(i + 1), {
                  evolve,
                  initialState,
                  cache: caches[who ? 1 : 0]!,
                  maxRetries: 100,
                }),
              ),
            );
            for (let s = 0; s <= 2; s++) {
              const mine = steps.map(([, t], i) => (t === s ? i + 1 : 0)).filter((n) => n > 0);
              const folded = await fold(store, `${run}-${s}`);
              expect(folded).toEqual({ count: mine.length, total: mine.reduce((a, b) => a + b, 0) });
              // Whatever either cache holds for the stream is a state the log really had at that version.
              for (const cache of caches) {
                const entry = cache.get(`${run}-${s}`);
                if (entry === undefined) continue;
                const prefix = (await store.readStream(`${run}-${s}`)).slice(0, entry.version);
                expect(entry.state).toEqual(prefix.reduce(evolve, initialState()));
              }
            }
          },
        ),
        { numRuns: target.name === 'pg' ? 15 : 5 },
      );
    });

    it('refuses a cache inside a caller’s transaction, with a second evolve, or with bad options', async () => {
      const cache = createStateCache<Tally>();
      const caught = async (p: Promise<unknown>) =>
        p.then(
          () => undefined,
          (e: unknown) => e,
        );
      const inTx = await caught(
        store.transaction((tx) => tx.handle('r-1', () => add(1), { evolve, initialState, cache })),
      );
      expect(isEventlaneError(inTx, 'EVENTLANE_INVALID_ARGUMENT')).toBe(true);
      expect(String(inTx)).toMatch(/cache is for store.handle/);
      await store.handle('r-1', () => add(1), { evolve, initialState, cache });
      const otherFold = await caught(
        store.handle('r-1', () => add(1), { evolve: (s: Tally) => s, initialState, cache }),
      );
      expect(isEventlaneError(otherFold, 'EVENTLANE_INVALID_ARGUMENT')).toBe(true);
      expect(String(otherFold)).toMatch(/already serves another evolve function/);
      const notACache = await caught(
        store.handle('r-1', () => add(1), { evolve, initialState, cache: new Map() as never }),
      );
      expect(String(notACache)).toMatch(/cache must be a state cache made by createStateCache/);
      expect(() => createStateCache({ maxStreams: 0 })).toThrow(/maxStreams must be a whole number/);
      expect(() => createStateCache({ max: 3 } as never)).toThrow(/unknown option "max"/);
      expect(await fold(store, 'r-1')).toEqual({ count: 1, total: 1 });
    });
  });
}

describe('store.handle with a state cache on a store with personal fields', () => {
  it('is refused: a cached state would outlive forget(subject)', async () => {
    const UserRegistered = defineEvent({
      type: 'user.registered',
      owner: 'accounts',
      versions: { 1: z.object({ userId: z.string(), email: z.string() }) },
      personal: { subject: 'userId', fields: ['email'] },
    });
    const store = await createEventStore({ events: [UserRegistered] });
    try {
      const cache = createStateCache<number>();
      const error = await store
        .handle('u-1', () => [UserRegistered.create({ userId: 'u-1', email: 'a@b.c' })], {
          evolve: (n: number) => n + 1,
          initialState: () => 0,
          cache,
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(isEventlaneError(error, 'EVENTLANE_INVALID_ARGUMENT')).toBe(true);
      expect(String(error)).toMatch(/not available on a store with personal fields/);
      expect(await store.readStream('u-1')).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
