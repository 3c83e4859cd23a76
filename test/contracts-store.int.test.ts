import { PGlite } from '@electric-sql/pglite';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  isEventlaneError,
  type EventStore,
  type JsonObject,
  type SchemaValidationError,
  type StoredEvent,
} from '../src/index.js';
import { events, OrderCreated, OrderPaid } from './fixtures/contracts/events.js';
import { dropSchema, storeTargets, uniqueSchema } from './support/stores.js';
import { SERVICES } from './support/services.js';
import { createEventStore } from '../src/index.js';
import { scaled } from './support/time.js';

interface Fixture {
  about: string;
  type: string;
  version: number;
  data: JsonObject;
  current: JsonObject;
}
const fixtures = JSON.parse(
  readFileSync(new URL('./fixtures/contracts/stored-events.json', import.meta.url), 'utf8'),
) as Fixture[];

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

/**
 * The log shows only transactions older than the oldest one still running on the server, and other test runs
 * share the PostgreSQL server: wait until the log has caught up with what this store wrote.
 */
async function logCaughtUp(store: EventStore, count: number): Promise<void> {
  const deadline = Date.now() + scaled(20_000);
  while ((await store.readLog({ limit: count + 1 })).events.length < count) {
    if (Date.now() > deadline) throw new Error(`the log did not show ${count} events within 20 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Rows in the events table, whatever the log can see yet. */
async function rowCount(store: EventStore): Promise<number> {
  const [row] = await store.executor.query<{ n: string }>(
    `select count(*)::text as n from "${store.schema}".events`,
  );
  return Number(row!.n);
}

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`contracts on the store (${target.name})`, () => {
    const schemas: string[] = [];
    const closers: (() => Promise<void>)[] = [];

    /** Two stores on the same database: one as old code wrote (no contracts), one with today's contracts. */
    async function pair(): Promise<{ legacy: EventStore; store: EventStore }> {
      if (target.name === 'pg') {
        const schema = uniqueSchema();
        schemas.push(schema);
        const legacy = await createEventStore({ url: SERVICES.postgres.url, schema });
        const store = await createEventStore({ url: SERVICES.postgres.url, schema, events });
        closers.push(
          () => legacy.close(),
          () => store.close(),
        );
        return { legacy, store };
      }
      const db = await PGlite.create();
      const legacy = await createEventStore({ pglite: db });
      const store = await createEventStore({ pglite: db, events });
      closers.push(
        () => legacy.close(),
        () => store.close(),
        () => db.close(),
      );
      return { legacy, store };
    }

    afterAll(async () => {
      for (const close of closers) await close();
      for (const s of schemas) await dropSchema(s);
    });

    it('reads golden fixtures of every historical version back as the current version', async () => {
      const { legacy, store } = await pair();
      for (const [i, f] of fixtures.entries()) {
        await legacy.append(`golden-${i}`, [{ type: f.type, version: f.version, data: f.data }]);
      }
      const check = (e: StoredEvent, i: number) => {
        const f = fixtures[i]!;
        expect(e.data, f.about).toEqual(f.current);
        expect(e.version, f.about).toBe(store.contracts!.get(f.type)!.currentVersion);
      };
      for (const [i] of fixtures.entries()) {
        const [e] = await store.readStream(`golden-${i}`);
        check(e!, i);
      }
      await logCaughtUp(store, fixtures.length);
      const log = await store.readLog();
      log.events.forEach(check);
      let n = 0;
      for await (const e of store.iterateLog({ pageSize: 2 })) check(e, n++);
      expect(n).toBe(fixtures.length);
      await store.transaction(async (tx) => {
        const [e] = await tx.readStream('golden-0');
        check(e!, 0);
      });
      // The stored rows are never rewritten.
      const raw = await legacy.readLog();
      expect(raw.events.map((e) => [e.version, e.data])).toEqual(fixtures.map((f) => [f.version, f.data]));
    });

    it('validates on append and writes nothing of a failing batch', async () => {
      const { store } = await pair();
      await store.append('order-1', [
        OrderCreated.create({ orderId: 'o-1', totalCents: 100, currency: 'EUR', items: [] }),
      ]);
      const before = await rowCount(store);
      await logCaughtUp(store, 1);
      const headBefore = await store.head();
      const error = (await rejection(
        store.append('order-1', [
          OrderPaid.create({ orderId: 'o-1', amount: 1, currency: 'EUR' }),
          { type: 'order.paid', version: 2, data: { orderId: 'o-1', amount: -1, currency: 'CHF' } },
        ]),
      )) as SchemaValidationError;
      expect(isEventlaneError(error, ErrorCodes.SCHEMA_VALIDATION)).toBe(true);
      expect(error.issues).toMatchObject([{ index: 1, path: 'data.currency' }]);
      expect(error.message).toMatch(
        /events\[1\] order.paid v2 data.currency: Invalid option: expected one of "EUR"\|"USD"\|"GBP"/,
      );
      expect(await rowCount(store)).toBe(before);
      expect(await store.streamVersion('order-1')).toBe(1);
      expect(await store.head()).toEqual(headBefore);
      expect((await store.readLog()).events).toHaveLength(1);

      // Inside a transaction the caller's SQL rolls back with the refused append.
      const txError = await rejection(
        store.transaction(async (tx) => {
          await tx.append('order-2', [OrderPaid.create({ orderId: 'o-2', amount: 1, currency: 'EUR' })]);
          await tx.append('order-2', [{ type: 'order.paid', version: 2, data: { orderId: 'o-2' } }]);
        }),
      );
      expect(isEventlaneError(txError, ErrorCodes.SCHEMA_VALIDATION)).toBe(true);
      expect(await store.streamVersion('order-2')).toBe(0);
      expect(await rowCount(store)).toBe(before);
      expect(await store.head()).toEqual(headBefore);
    });

    it('rejects undeclared types by default; allows them by policy', async () => {
      const { store } = await pair();
      const error = await rejection(store.append('s-1', [{ type: 'order.refunded', data: {} }]));
      expect(isEventlaneError(error, ErrorCodes.UNDECLARED_EVENT)).toBe(true);
      expect(await store.streamVersion('s-1')).toBe(0);
      const lenient =
        target.name === 'pg'
          ? await createEventStore({
              url: SERVICES.postgres.url,
              schema: store.schema,
              events,
              undeclaredEvents: 'allow',
            })
          : await target.open({ events, undeclaredEvents: 'allow' });
      closers.push(() => lenient.close());
      await lenient.append('s-1', [{ type: 'order.refunded', data: { any: 'thing' } }]);
      expect((await lenient.readStream('s-1'))[0]?.data).toEqual({ any: 'thing' });
    });

    it('refuses undeclaredEvents without events', async () => {
      await expect(target.open({ undeclaredEvents: 'allow' })).rejects.toMatchObject({
        code: ErrorCodes.INVALID_ARGUMENT,
      });
    });

    it('stores what the schema outputs and appends current events unchanged', async () => {
      const { store } = await pair();
      const event = OrderPaid.create({ orderId: 'o-9', amount: 3, currency: 'USD' });
      const result = await store.append('order-9', [event]);
      expect(result.ids).toEqual([event.id]);
      // Same event object again: the id makes the retry idempotent.
      expect((await store.append('order-9', [event])).duplicate).toBe(true);
      const [read] = await store.readStream('order-9');
      expect(read).toMatchObject({
        id: event.id,
        version: 2,
        data: { orderId: 'o-9', amount: 3, currency: 'USD' },
      });
    });
  });
}
