import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  ExpectedVersionConflictError,
  isConcurrencyError,
  isEventlaneError,
  LOG_START,
  type EventStore,
  type NewEvent,
} from '../../src/index.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, logState, storeTargets, waitForHead } from '../support/stores.js';

const ev = (type: string, data: Record<string, unknown> = {}): NewEvent => ({ type, data: data });

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`event store on ${target.name}`, () => {
    let store: EventStore;

    beforeAll(async () => {
      store = await target.open();
    });
    afterAll(async () => {
      await store?.close();
      if (target.name === 'pg') await dropSchema(store.schema);
    });

    it('appends and reads a stream back with contiguous positions', async () => {
      const r1 = await store.append(
        'order-1',
        [ev('order.created', { total: 10 }), ev('order.paid', { amount: 10 })],
        {
          expectedVersion: 'no_stream',
        },
      );
      expect(r1.positions).toEqual([1, 2]);
      expect(r1.streamVersion).toBe(2);
      expect(r1.duplicate).toBe(false);
      const r2 = await store.append('order-1', [ev('order.shipped')], { expectedVersion: 2 });
      expect(r2.positions).toEqual([3]);
      expect(r2.globalPosition).toBeGreaterThan(r1.globalPosition);

      const events = await store.readStream('order-1');
      expect(events.map((e) => [e.streamPosition, e.type, e.version])).toEqual([
        [1, 'order.created', 1],
        [2, 'order.paid', 1],
        [3, 'order.shipped', 1],
      ]);
      expect(events[0]!.data).toEqual({ total: 10 });
      expect(events[0]!.id).toBe(r1.ids[0]);
      expect(events[0]!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(events[2]!.checkpoint).toBe(r2.checkpoint);
      expect(await store.streamVersion('order-1')).toBe(3);
      expect(await store.streamVersion('order-none')).toBe(0);
    });

    it('keeps occurredAt and metadata as given, and stamps recordedAt', async () => {
      const occurredAt = new Date('2024-02-29T12:34:56.789Z');
      const before = Date.now();
      await store.append('when-1', [
        { type: 'x.a', data: [1, 'two', null], occurredAt, metadata: { correlationId: 'c-1', actor: 'ann' } },
      ]);
      const [e] = await store.readStream('when-1');
      expect(e!.occurredAt).toEqual(occurredAt);
      expect(e!.metadata).toEqual({ correlationId: 'c-1', actor: 'ann' });
      expect(e!.data).toEqual([1, 'two', null]);
      expect(e!.recordedAt.getTime()).toBeGreaterThanOrEqual(before - 5_000);
      expect(e!.recordedAt.getTime()).toBeLessThanOrEqual(Date.now() + 5_000);
    });

    it('reads streams backward, from a position, with a limit', async () => {
      await store.append(
        'order-2',
        [1, 2, 3, 4, 5].map((n) => ev('order.step', { n })),
      );
      const back = await store.readStream('order-2', { direction: 'backward', limit: 2 });
      expect(back.map((e) => e.streamPosition)).toEqual([5, 4]);
      const from = await store.readStream('order-2', { from: 3, limit: 2 });
      expect(from.map((e) => e.streamPosition)).toEqual([3, 4]);
      const backFrom = await store.readStream('order-2', { from: 2, direction: 'backward' });
      expect(backFrom.map((e) => e.streamPosition)).toEqual([2, 1]);
      expect(await store.readStream('nobody-here')).toEqual([]);
    });

    it('enforces every expected-version mode and reports the actual version', async () => {
      await expect(store.append('s-any', [ev('x.a')], { expectedVersion: 'any' })).resolves.toMatchObject({
        positions: [1],
      });
      await expect(store.append('s-any', [ev('x.a')])).resolves.toMatchObject({ positions: [2] });

      const noStream = store.append('s-any', [ev('x.a')], { expectedVersion: 'no_stream' });
      await expect(noStream).rejects.toBeInstanceOf(ExpectedVersionConflictError);
      await expect(noStream).rejects.toMatchObject({
        code: ErrorCodes.CONCURRENCY,
        stream: 's-any',
        expected: 'no_stream',
        actual: 2,
      });

      await expect(
        store.append('s-new', [ev('x.a')], { expectedVersion: 'stream_exists' }),
      ).rejects.toMatchObject({
        code: ErrorCodes.CONCURRENCY,
        actual: 0,
      });
      await expect(
        store.append('s-any', [ev('x.a')], { expectedVersion: 'stream_exists' }),
      ).resolves.toMatchObject({
        positions: [3],
      });
      await expect(store.append('s-any', [ev('x.a')], { expectedVersion: 1 })).rejects.toMatchObject({
        actual: 3,
        expected: 1,
      });
      await expect(store.append('s-any', [ev('x.a')], { expectedVersion: 0 })).rejects.toMatchObject({
        actual: 3,
      });
      await expect(store.append('s-zero', [ev('x.a')], { expectedVersion: 0 })).resolves.toMatchObject({
        positions: [1],
      });
      await expect(
        store.append('s-any', [ev('x.a'), ev('x.b')], { expectedVersion: 3 }),
      ).resolves.toMatchObject({
        positions: [4, 5],
        streamVersion: 5,
      });
      const e = await store.append('s-any', [ev('x.a')], { expectedVersion: 9 }).catch((err: unknown) => err);
      expect(isConcurrencyError(e)).toBe(true);
      expect((e as Error).message).toContain('version 5');
    });

    it('answers a retried append with the original result and writes nothing', async () => {
      for (const [mode, digit] of [
        ['no_stream', 'a'],
        ['any', 'b'],
        ['stream_exists', 'c'],
        [0, 'd'],
      ] as const) {
        const stream = `cart-${mode}`;
        if (mode === 'stream_exists') await store.append(stream, [ev('cart.created')]);
        const batch = [
          { id: `0190f5a0-0000-7000-8000-00000000000${digit}`, type: 'cart.opened', data: { by: 'ann' } },
          {
            id: `0190f5a0-0000-7000-8000-0000000000${digit}1`,
            type: 'cart.item_added',
            data: { sku: 'a', qty: 1 },
          },
        ];
        const first = await store.append(stream, batch, { expectedVersion: mode });
        const before = await logState(store);
        const again = await store.append(stream, batch, { expectedVersion: mode });
        expect(again).toEqual({ ...first, duplicate: true });
        expect(await logState(store)).toEqual(before);
        expect(await store.streamVersion(stream)).toBe(first.streamVersion);
      }
    });

    it('refuses a known id with other content, and the same id twice in one batch', async () => {
      const id = '0190f5a0-0000-7000-8000-0000000000ff';
      await store.append('dup-1', [{ id, type: 'x.a', data: { v: 1 } }]);
      const before = await logState(store);
      for (const attempt of [
        () => store.append('dup-1', [{ id, type: 'x.a', data: { v: 2 } }]),
        () => store.append('dup-2', [{ id, type: 'x.a', data: { v: 1 } }]),
        () =>
          store.append('dup-3', [ev('x.b'), { id, type: 'x.a', data: { v: 1 } }], {
            expectedVersion: 'no_stream',
          }),
        () =>
          store.append('dup-4', [
            { id: id.replace('ff', 'fe'), type: 'x.a', data: {} },
            { id: id.replace('ff', 'fe'), type: 'x.a', data: {} },
          ]),
      ]) {
        await expect(attempt()).rejects.toMatchObject({ code: ErrorCodes.DUPLICATE_EVENT_ID });
      }
      expect(await logState(store)).toEqual(before);
      expect(await store.streamVersion('dup-2')).toBe(0);
      expect(await store.streamVersion('dup-3')).toBe(0);
    });

    it('rolls back the caller’s SQL and every append when the unit of work throws', async () => {
      const table = `${store.schema}.orders`;
      await store.executor.query(`create table ${table} (id text primary key, status text not null)`);
      const before = await logState(store);
      await expect(
        store.transaction(async (tx) => {
          await tx.query(`insert into ${table} values ($1, $2)`, ['o-1', 'created']);
          await tx.append('order-rb-1', [ev('order.created')]);
          await tx.append('order-rb-2', [ev('order.created'), ev('order.paid')]);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await logState(store)).toEqual(before);
      expect(await store.executor.query(`select * from ${table}`)).toEqual([]);
      expect(await store.streamVersion('order-rb-1')).toBe(0);
      expect(await store.streamVersion('order-rb-2')).toBe(0);

      const result = await store.transaction(async (tx) => {
        await tx.query(`insert into ${table} values ($1, $2)`, ['o-2', 'paid']);
        return tx.append('order-rb-3', [ev('order.created')]);
      });
      expect(result.positions).toEqual([1]);
      expect(await store.executor.query(`select id, status from ${table}`)).toEqual([
        { id: 'o-2', status: 'paid' },
      ]);
    });

    it('rolls back when an append inside the unit of work conflicts', async () => {
      const table = `${store.schema}.orders_c`;
      await store.executor.query(`create table ${table} (id text primary key)`);
      await store.append('order-c', [ev('order.created')]);
      const before = await logState(store);
      await expect(
        store.transaction(async (tx) => {
          await tx.query(`insert into ${table} values ($1)`, ['x']);
          await tx.append('order-c2', [ev('order.created')]);
          await tx.append('order-c', [ev('order.paid')], { expectedVersion: 'no_stream' });
        }),
      ).rejects.toMatchObject({ code: ErrorCodes.CONCURRENCY });
      expect(await logState(store)).toEqual(before);
      expect(await store.executor.query(`select * from ${table}`)).toEqual([]);
    });

    it('sends tagged-template values as parameters, never as SQL text', async () => {
      const hostile = "'; drop schema public cascade; --";
      const rows = await store.transaction(
        (tx) => tx.sql<{ v: string; n: number }>`select ${hostile}::text as v, ${41}::int + 1 as n`,
      );
      expect(rows).toEqual([{ v: hostile, n: 42 }]);
    });

    it('reads the log in commit order, in pages, with an iterator and a head', async () => {
      const fresh = await target.open();
      try {
        expect(await fresh.head()).toEqual({ checkpoint: LOG_START, globalPosition: 0n, recordedAt: null });
        expect(await fresh.readLog()).toEqual({ events: [], checkpoint: LOG_START });
        let lastAppend = LOG_START;
        for (let i = 0; i < 25; i++) {
          lastAppend = (await fresh.append(`log-${i % 5}`, [ev('x.a', { i }), ev('x.b', { i })])).checkpoint;
        }
        await waitForHead(fresh, lastAppend);
        const seen: number[] = [];
        let after = LOG_START;
        for (;;) {
          const page = await fresh.readLog({ after, limit: 7 });
          if (page.events.length === 0) break;
          seen.push(...page.events.map((e) => (e.data as { i: number }).i));
          after = page.checkpoint;
        }
        expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => [i, i]).flat());
        const head = await fresh.head();
        expect(head.checkpoint).toBe(after);
        const iterated = [];
        for await (const e of fresh.iterateLog({ pageSize: 4 })) iterated.push(e.globalPosition);
        expect(iterated.length).toBe(50);
        const tail = [];
        for await (const e of fresh.iterateLog({
          after: iterated.length ? (await fresh.readLog({ limit: 48 })).checkpoint : LOG_START,
        }))
          tail.push(e);
        expect(tail.map((e) => (e.data as { i: number }).i)).toEqual([24, 24]);
      } finally {
        await fresh.close();
        if (target.name === 'pg') await dropSchema(fresh.schema);
      }
    });

    it('migrate() is idempotent', async () => {
      expect(await store.migrate()).toEqual({ applied: [], current: expect.any(Number) as number });
    });

    it('refuses use after close with a typed error', async () => {
      const s = await target.open();
      await s.close();
      await s.close();
      expect(() => s.readLog()).toThrow(expect.objectContaining({ code: ErrorCodes.CLOSED }) as Error);
      if (target.name === 'pg') await dropSchema(s.schema);
    });
  });
}

describe.skipIf(!storeTargets()[0]!.available)('stores on connections the caller owns (PostgreSQL)', () => {
  it('works on a pg pool, a pg client, and inside the caller’s own transaction', async () => {
    const { createEventStore } = await import('../../src/index.js');
    const pool = new pg.Pool({ connectionString: SERVICES.postgres.url, max: 3 });
    const schema = `t_owned_${Date.now().toString(36)}`;
    const onPool = await createEventStore({ pool, schema });
    await onPool.append('p-1', [ev('x.a')]);
    await onPool.close();
    // The pool is the caller's: still usable after the store closed.
    expect((await pool.query('select 1 as one')).rows).toEqual([{ one: 1 }]);

    const client = new pg.Client({ connectionString: SERVICES.postgres.url });
    await client.connect();
    const onClient = await createEventStore({ client, schema });
    // Transactions on one client are queued, not interleaved.
    await Promise.all(
      [1, 2, 3].map((n) => onClient.transaction((tx) => tx.append('p-2', [ev('x.a', { n })]))),
    );
    expect(await onClient.streamVersion('p-2')).toBe(3);

    await client.query('begin');
    await onClient.enlist(client).append('p-3', [ev('x.a')]);
    await client.query('rollback');
    expect(await onClient.streamVersion('p-3')).toBe(0);
    await client.query('begin');
    await onClient.enlist(client).append('p-3', [ev('x.a')]);
    await client.query('commit');
    expect(await onClient.streamVersion('p-3')).toBe(1);
    await onClient.close();
    await client.end();
    await pool.end();
    await dropSchema(`t_${schema.slice(2)}`);
    const c = new pg.Client({ connectionString: SERVICES.postgres.url });
    await c.connect();
    await c.query(`drop schema if exists ${schema} cascade`);
    await c.end();
  });
});

describe('stores on a PGlite instance the caller owns', () => {
  it('appends inside the caller’s PGlite transaction and leaves the instance open', async () => {
    const { PGlite } = await import('@electric-sql/pglite');
    const { createEventStore } = await import('../../src/index.js');
    const db = await PGlite.create();
    const store = await createEventStore({ pglite: db });
    await db.transaction(async (tx) => {
      await store.enlist(tx).append('l-1', [ev('x.a')]);
      await tx.rollback();
    });
    expect(await store.streamVersion('l-1')).toBe(0);
    await db.transaction(async (tx) => {
      await store.enlist(tx).append('l-1', [ev('x.a')]);
    });
    expect(await store.streamVersion('l-1')).toBe(1);
    await store.close();
    expect((await db.query('select count(*)::int as n from eventlane.events')).rows).toEqual([{ n: 1 }]);
    await db.close();
  });
});

describe('connection errors', () => {
  it('an unreachable server is a typed connection error, not a hang', async () => {
    const { createEventStore } = await import('../../src/index.js');
    const error = await createEventStore({ url: 'postgres://postgres@127.0.0.1:1/test' }).catch(
      (e: unknown) => e,
    );
    expect(isEventlaneError(error, ErrorCodes.CONNECTION)).toBe(true);
    expect((error as Error).message).toMatch(/connection refused/);
  });
});

// 'iterateLog while another transaction is open' holds a transaction open on purpose: it lives in
// open-transaction.serial.test.ts, which runs alone after the other files (vitest.config.ts, project `serial`).

describe('commit order across transaction ids of different lengths (embedded)', () => {
  it('orders numerically, not as text, when ids pass 999 → 1000', async () => {
    const { createEventStore } = await import('../../src/index.js');
    const store = await createEventStore();
    try {
      // A fresh PGlite hands out ids in the hundreds: 400 single-event transactions cross into four digits.
      const ids: string[] = [];
      for (let i = 0; i < 400; i++)
        ids.push(...(await store.append(`digits-${i % 7}`, [ev('x.a', { i })])).ids);
      const read: string[] = [];
      for await (const e of store.iterateLog({ pageSize: 64 })) read.push(e.id);
      expect(read).toEqual(ids);
      const head = await store.head();
      expect(head.checkpoint).toBe((await store.readLog({ limit: 1000 })).checkpoint);
      expect(Number(head.checkpoint.split(':')[0])).toBeGreaterThanOrEqual(1000);
    } finally {
      await store.close();
    }
  });
});
