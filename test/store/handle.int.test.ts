import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CommandConflictError,
  ExpectedVersionConflictError,
  isConcurrencyError,
  type CommandContext,
  type EventStore,
  type EventStoreTransaction,
  type HandleOptions,
  type NewEvent,
  type StoredEvent,
} from '../../src/index.js';
import { events as contracts } from '../fixtures/contracts/events.js';
import { dropSchema, storeTargets } from '../support/stores.js';

interface Counter {
  count: number;
  total: number;
  commands: string[];
}

const counter: HandleOptions<Counter, StoredEvent> = {
  initialState: () => ({ count: 0, total: 0, commands: [] }),
  evolve: (state, e) => {
    if (e.type !== 'counter.added') return state;
    const { by, command } = e.data as { by: number; command: string };
    return { count: state.count + 1, total: state.total + by, commands: [...state.commands, command] };
  },
};

const add = (by: number, command: string): NewEvent[] => [{ type: 'counter.added', data: { by, command } }];

/** A barrier: resolves each waiter once `n` have arrived. */
function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return () => {
    if (++arrived >= n) open();
    return opened;
  };
}

async function fold(store: EventStore, stream: string): Promise<Counter> {
  return (await store.readStream(stream)).reduce(counter.evolve, counter.initialState());
}

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`store.handle on ${target.name}`, () => {
    let store: EventStore;
    // PGlite has one connection: its transactions run one after another, so commands cannot overlap there and a
    // barrier across commands would wait forever.
    const meet = (n: number) => barrier(target.name === 'pg' ? n : 1);
    beforeAll(async () => {
      store = await target.open({ poolSize: 20 });
      await store.executor.query(`create table ${store.schema}.audit (command text primary key)`);
    });
    afterAll(async () => {
      await store?.close();
      if (target.name === 'pg') await dropSchema(store.schema);
    });

    it('reads, folds, decides and appends with the version read; returns the new state and the append result', async () => {
      await store.append('c-basic', add(5, 'seed'));
      const seen: { state: Counter; version: number }[] = [];
      const out = await store.handle(
        'c-basic',
        (state, { version }) => {
          seen.push({ state, version });
          return add(state.total, 'double');
        },
        counter,
      );
      expect(seen).toEqual([{ state: { count: 1, total: 5, commands: ['seed'] }, version: 1 }]);
      expect(out.state).toEqual({ count: 2, total: 10, commands: ['seed', 'double'] });
      expect(out.version).toBe(2);
      expect(out.result?.positions).toEqual([2]);
      expect(out.events.map((e) => [e.streamPosition, e.data])).toEqual([[2, { by: 5, command: 'double' }]]);
      expect(out.attempts).toBe(1);
      expect(await fold(store, 'c-basic')).toEqual(out.state);
    });

    it('returns the new events exactly as a read gives them back: one event, several, metadata and dates', async () => {
      const occurredAt = new Date('2024-02-29T12:34:56.789Z');
      const one = await store.handle(
        'c-exact',
        () => [
          {
            type: 'counter.added',
            data: { by: 2, command: 'one', skipped: undefined, nested: { b: [1, 'x'], a: null } },
            metadata: { correlationId: 'c-1' },
            occurredAt,
          },
        ],
        counter,
      );
      const many = await store.handle(
        'c-exact',
        () => [...add(3, 'two'), ...add(4, 'three'), { type: 'counter.noted', version: 2, data: 'note' }],
        counter,
      );
      const stored = await store.readStream('c-exact');
      expect(stored).toHaveLength(4);
      expect(one.events).toEqual(stored.slice(0, 1));
      expect(many.events).toEqual(stored.slice(1));
      expect(one.events[0]!.occurredAt).toEqual(occurredAt);
      expect(one.events[0]!.data).toEqual({ by: 2, command: 'one', nested: { b: [1, 'x'], a: null } });
      expect(Object.keys(one.events[0]!.data as object)).not.toContain('skipped');
      expect(many.state).toEqual(await fold(store, 'c-exact'));
    });

    it('with contracts: the new events are the validated ones (unknown keys stripped), upcast like a read', async () => {
      const typed = await target.open({ events: contracts });
      try {
        const paid = await typed.handle(
          'order-h1',
          () => [{ type: 'order.paid', version: 1, data: { orderId: 'h1', amount: 5, extra: 'dropped' } }],
          { initialState: () => 0, evolve: (n) => n + 1 },
        );
        const stored = await typed.readStream('order-h1');
        expect(paid.events).toEqual(stored);
        expect(paid.events[0]).toMatchObject({
          version: 2,
          data: { orderId: 'h1', amount: 5, currency: 'EUR' },
        });
        await expect(
          typed.handle('order-h1', () => [{ type: 'order.payed', data: {} }], {
            initialState: () => 0,
            evolve: (n) => n + 1,
          }),
        ).rejects.toMatchObject({ code: 'EVENTLANE_UNDECLARED_EVENT' });
        expect(await typed.streamVersion('order-h1')).toBe(1);
      } finally {
        await typed.close();
        if (target.name === 'pg') await dropSchema(typed.schema);
      }
    });

    it('writes nothing when the decision returns no events, or throws', async () => {
      const none = await store.handle('c-none', () => [], counter);
      expect(none).toEqual({
        state: counter.initialState(),
        version: 0,
        events: [],
        result: undefined,
        attempts: 1,
      });
      await expect(
        store.handle(
          'c-none',
          () => {
            throw new Error('the cart is closed');
          },
          counter,
        ),
      ).rejects.toThrow('the cart is closed');
      expect(await store.streamVersion('c-none')).toBe(0);
    });

    it("runs the caller's SQL in the command's transaction: kept with the events, rolled back with a conflict", async () => {
      const arrive = meet(2);
      const decide =
        (name: string) =>
        async (_state: Counter, { tx, attempt }: CommandContext<EventStoreTransaction>) => {
          await tx.query(`insert into ${store.schema}.audit (command) values ($1)`, [`${name}#${attempt}`]);
          if (attempt === 1) await arrive();
          return add(1, name);
        };
      const [a, b] = await Promise.all([
        store.handle('c-sql', decide('a'), counter),
        store.handle('c-sql', decide('b'), counter),
      ]);
      const attempts = [a.attempts, b.attempts].sort();
      if (target.name === 'pg') expect(attempts).toEqual([1, 2]);
      const rows = await store.executor.query<{ command: string }>(
        `select command from ${store.schema}.audit where command like 'a#%' or command like 'b#%' order by command`,
      );
      // One audit row per committed attempt: the losing attempt's row went with its conflict.
      expect(rows.map((r) => r.command)).toEqual([`a#${a.attempts}`, `b#${b.attempts}`].sort());
      expect((await fold(store, 'c-sql')).commands.sort()).toEqual(['a', 'b']);
    });

    it('16 concurrent writers on one stream: every command applied exactly once, states consistent', async () => {
      const writers = 16;
      const arrive = meet(writers);
      const results = await Promise.all(
        Array.from({ length: writers }, (_, i) =>
          store.handle(
            'c-16',
            async (state, { attempt }) => {
              // Every first attempt reads before any appends, so all but one meet a conflict at least once.
              if (attempt === 1) await arrive();
              return add(i + 1, `cmd-${i}`);
            },
            { ...counter, maxRetries: 100 },
          ),
        ),
      );
      const final = await fold(store, 'c-16');
      expect(final.count).toBe(writers);
      expect(final.total).toBe((writers * (writers + 1)) / 2);
      expect([...final.commands].sort()).toEqual(
        Array.from({ length: writers }, (_, i) => `cmd-${i}`).sort(),
      );
      // Each result is the state right after its own event: its version, a prefix of the final order.
      for (const r of results) {
        expect(r.state.count).toBe(r.version);
        expect(r.state.commands).toEqual(final.commands.slice(0, r.version));
      }
      expect(new Set(results.map((r) => r.version)).size).toBe(writers);
      if (target.name === 'pg') expect(results.filter((r) => r.attempts > 1)).toHaveLength(writers - 1);
    });

    it('gives up after maxRetries with a CommandConflictError that nothing of the command was written', async () => {
      const arrive = meet(2);
      const run = (name: string) =>
        store.handle(
          'c-give-up',
          async () => {
            await arrive();
            return add(1, name);
          },
          { ...counter, maxRetries: 0 },
        );
      const settled = await Promise.allSettled([run('x'), run('y')]);
      if (target.name === 'pglite') return; // one connection: the two commands cannot overlap
      const failed = settled.filter((s) => s.status === 'rejected');
      expect(failed).toHaveLength(1);
      const error = (failed[0] as PromiseRejectedResult).reason as CommandConflictError;
      expect(error).toBeInstanceOf(CommandConflictError);
      expect(isConcurrencyError(error)).toBe(true);
      expect(error.code).toBe('EVENTLANE_CONCURRENCY');
      expect(error.attempts).toBe(1);
      expect(error.cause).toBeInstanceOf(ExpectedVersionConflictError);
      expect(error.message).toMatch(/met a concurrency conflict on each of its 1 attempts/);
      expect(await store.streamVersion('c-give-up')).toBe(1);
    });

    it("tx.handle runs one attempt inside the caller's transaction; a conflict is the caller's to retry", async () => {
      await store.append('c-tx', add(1, 'one'));
      const out = await store.transaction(async (tx) => {
        const r = await tx.handle('c-tx', (s) => add(s.total, 'two'), counter);
        expect(await tx.streamVersion('c-tx')).toBe(2);
        return r;
      });
      expect(out.state.total).toBe(2);
      await expect(
        store.transaction(async (tx) => {
          await tx.handle('c-tx', () => add(1, 'kept?'), counter);
          throw new Error('caller rolls back');
        }),
      ).rejects.toThrow('caller rolls back');
      expect(await store.streamVersion('c-tx')).toBe(2);
      if (target.name === 'pglite') return; // one connection: no other writer can commit inside the transaction
      await expect(
        store.transaction((tx) =>
          tx.handle(
            'c-tx',
            async () => {
              await store.append('c-tx', add(1, 'other writer')); // commits on another connection first
              return add(1, 'late');
            },
            counter,
          ),
        ),
      ).rejects.toBeInstanceOf(ExpectedVersionConflictError);
      expect(await store.streamVersion('c-tx')).toBe(3);
    });

    it('keeps a snapshot every N events, reads from it, and ignores it when the evolve version changes', async () => {
      const snapshots = { name: 'counter', every: 3, version: 1 };
      for (let i = 1; i <= 10; i++)
        await store.handle('c-snap', () => add(i, `s${i}`), { ...counter, snapshots });
      const rows = await store.executor.query<{ stream_version: string; state: Counter }>(
        `select stream_version, state from ${store.schema}.snapshots where stream = 'c-snap' and name = 'counter'`,
      );
      expect(rows.map((r) => [Number(r.stream_version), r.state.count])).toEqual([[9, 9]]);
      // The next command starts from the snapshot: an altered snapshot shows through.
      await store.executor.query(
        `update ${store.schema}.snapshots set state = jsonb_set(state, '{total}', '1000') where stream = 'c-snap'`,
      );
      const seen: number[] = [];
      const read = (s: Counter) => {
        seen.push(s.total);
        return [];
      };
      await store.handle('c-snap', read, { ...counter, snapshots });
      // Another evolve version ignores it and folds the whole stream.
      await store.handle('c-snap', read, { ...counter, snapshots: { ...snapshots, version: 2 } });
      expect(seen).toEqual([1000 - 45 + 55, 55]);
    });

    it('a state from a snapshot equals the full fold (property)', async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 25 }),
          fc.integer({ min: 1, max: 6 }),
          async (amounts, every) => {
            const stream = `c-prop-${run++}`;
            const snapshots = { name: 'p', every, version: 1 };
            let last: Counter | undefined;
            for (const [i, by] of amounts.entries()) {
              last = (await store.handle(stream, () => add(by, `p${i}`), { ...counter, snapshots })).state;
            }
            const full = await fold(store, stream);
            expect(last).toEqual(full);
            const fromSnapshot = await store.handle(stream, () => [], { ...counter, snapshots });
            expect(fromSnapshot.state).toEqual(full);
          },
        ),
        { numRuns: target.name === 'pg' ? 25 : 15 },
      );
    });

    it('refuses bad options with a typed error before reading anything', async () => {
      const call = (decide: unknown, options: unknown) =>
        (store.handle as (s: string, d: unknown, o: unknown) => Promise<unknown>)('c-bad', decide, options);
      const ok = () => [];
      const cases: [unknown, unknown, RegExp][] = [
        ['not a function', counter, /the decision must be a function/],
        [ok, undefined, /options \{ evolve, initialState \} are required/],
        [ok, { ...counter, evolve: 1 }, /evolve must be a function/],
        [ok, { ...counter, initialState: {} }, /initialState must be a function/],
        [ok, { ...counter, maxRetries: -1 }, /maxRetries must be a whole number from 0 to 1000, got -1/],
        [ok, { ...counter, maxRetries: 1.5 }, /maxRetries must be a whole number/],
        [ok, { ...counter, retries: 3 }, /unknown option "retries"/],
        [ok, { ...counter, snapshots: 5 }, /snapshots must be \{ name, every, version \}/],
        [ok, { ...counter, snapshots: { name: '', every: 1, version: 1 } }, /snapshots.name must be/],
        [ok, { ...counter, snapshots: { name: 'n', every: 0, version: 1 } }, /snapshots.every must be/],
        [ok, { ...counter, snapshots: { name: 'n', every: 1, version: 'v2' } }, /snapshots.version must be/],
        [
          ok,
          { ...counter, snapshots: { name: 'n', every: 1, version: 1, keep: 3 } },
          /unknown snapshots option "keep"/,
        ],
        [() => 'x', counter, /the decision must return an array of events/],
      ];
      for (const [decide, options, message] of cases) {
        await expect(call(decide, options)).rejects.toThrow(message);
        await expect(call(decide, options)).rejects.toMatchObject({ code: 'EVENTLANE_INVALID_ARGUMENT' });
      }
      await expect(
        store.handle('c-bad', () => add(1, 'x'), {
          initialState: () => ({ at: new Date() }) as unknown as Counter,
          evolve: (s) => s,
          snapshots: { name: 'n', every: 1, version: 1 },
        }),
      ).rejects.toThrow(/cannot be stored as a snapshot/);
      expect(await store.streamVersion('c-bad')).toBe(0);
    });
  });
}
