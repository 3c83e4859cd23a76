/* eslint-disable @typescript-eslint/require-await -- handlers must return promises (these have nothing to await) */
/**
 * Typed events from contracts, at the type level and at run time. `npm run typecheck` compiles this file: each
 * `@ts-expect-error` fails the type check when the refusal it expects disappears, and each `expectTypeOf` fails it
 * when an inferred type drifts.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  createEventStore,
  defineEvent,
  defineProjection,
  defineReactor,
  type AnyEventContract,
  type CallerTransaction,
  type EventStore,
  type EventsOf,
  type NewEvent,
  type NewEventsOf,
  type ProjectionContext,
  type ProjectionDefinition,
  type ReactorContext,
  type ReactorDefinition,
  type StoredEvent,
} from '../src/index.js';
import { OrderPaid } from './fixtures/orders.js';

const OrderCreated = defineEvent({
  type: 'order.created',
  owner: 'orders',
  versions: { 1: z.object({ customer: z.string(), total: z.number() }) },
});
const Untyped = defineEvent({ type: 'misc.noted', owner: 'x', versions: { 1: z.object({}) } });

type Created = StoredEvent<'order.created', { customer: string; total: number }>;
type Paid = StoredEvent<'order.paid', { amount: number; currency: string }>;
type NewCreated = NewEventsOf<[typeof OrderCreated]>;
type NewPaid = NewEventsOf<[typeof OrderPaid]>;

const never = (): boolean => false; // type-only blocks below never run

describe('defineProjection / defineReactor with events', () => {
  it("types each handler's event by its contract's current version", () => {
    const p = defineProjection({
      name: 'totals',
      events: [OrderCreated, OrderPaid],
      handlers: {
        'order.created': async (e, ctx) => {
          expectTypeOf(e).toEqualTypeOf<Created>();
          expectTypeOf(e.data.customer).toEqualTypeOf<string>();
          expectTypeOf(ctx).toEqualTypeOf<ProjectionContext>();
        },
        'order.paid': async (e) => {
          expectTypeOf(e).toEqualTypeOf<Paid>();
          // version 2's field, also for events stored as version 1 (they are upcast)
          expectTypeOf(e.data.currency).toEqualTypeOf<string>();
          expectTypeOf(e.type).toEqualTypeOf<'order.paid'>();
        },
      },
    });
    const r = defineReactor({
      name: 'mailer',
      events: [OrderPaid],
      handlers: {
        'order.paid': async (e, ctx) => {
          expectTypeOf(e.data).toEqualTypeOf<{ amount: number; currency: string }>();
          expectTypeOf(ctx).toEqualTypeOf<ReactorContext>();
        },
      },
    });
    // Definitions stay the plain types every runner takes.
    expectTypeOf(p).toEqualTypeOf<ProjectionDefinition>();
    expectTypeOf(r).toEqualTypeOf<ReactorDefinition>();
    expect([p.kind, r.kind]).toEqual(['projection', 'reactor']);
  });

  it('types the batch handler by the union of the declared events', () => {
    const p = defineProjection({
      name: 'batch',
      events: [OrderCreated, OrderPaid],
      tables: { batch_t: 'create table :TABLE: (id text primary key)' },
      batch: async (events) => {
        expectTypeOf(events).toEqualTypeOf<readonly (Created | Paid)[]>();
        for (const e of events) {
          if (e.type === 'order.paid') expectTypeOf(e.data.currency).toEqualTypeOf<string>();
          else expectTypeOf(e.data.total).toEqualTypeOf<number>();
        }
      },
    });
    expect(p.batch).toBeTypeOf('function');
  });

  it('refuses a handler key no contract declares, a handler with the wrong event, and a wrong field', () => {
    if (never()) {
      // @ts-expect-error a typo in a handler key is a compile error ('order.piad')
      defineProjection({ name: 'p', events: [OrderPaid], handlers: { 'order.piad': async () => {} } });
      // @ts-expect-error order.created is not among the reactor's events
      defineReactor({ name: 'r', events: [OrderPaid], handlers: { 'order.created': async () => {} } });
      defineProjection({
        name: 'p',
        events: [OrderCreated, OrderPaid],
        handlers: {
          // @ts-expect-error the order.paid handler does not receive order.created events
          'order.paid': async (e: Created) => void e,
        },
      });
      defineReactor({
        name: 'r',
        events: [OrderPaid],
        handlers: {
          // @ts-expect-error version 2 has no field `cents`
          'order.paid': async (e) => void e.data.cents,
        },
      });
      // @ts-expect-error events are contracts made with defineEvent, not type names
      defineProjection({ name: 'p', events: ['order.paid'], handlers: {} });
      defineProjection({
        name: 'p',
        events: [OrderPaid],
        // @ts-expect-error a typed projection handler still gets no effect()
        handlers: { 'order.paid': async (_e, { effect }) => void effect },
      });
    }
    expect(true).toBe(true);
  });

  it('keeps untyped definitions compiling as before', () => {
    const p = defineProjection({
      name: 'p',
      handlers: {
        'any.type': async (e) => {
          expectTypeOf(e).toEqualTypeOf<StoredEvent>();
        },
      },
    });
    expect(p.events).toBeUndefined();
  });
});

describe('a store typed by its events', () => {
  it('narrows readStream, readLog, iterateLog and transaction reads by type', async () => {
    const store = await createEventStore({ events: [OrderCreated, OrderPaid] });
    try {
      expectTypeOf(store).toEqualTypeOf<EventStore<Created | Paid, NewCreated | NewPaid>>();
      await store.append('order-1', [
        OrderCreated.create({ customer: 'ada', total: 10 }),
        { type: 'order.paid', version: 1, data: { amount: 10 } },
      ]);
      const events = await store.readStream('order-1');
      expectTypeOf(events).toEqualTypeOf<(Created | Paid)[]>();
      const currencies = events.map((e) => {
        if (e.type === 'order.paid') {
          expectTypeOf(e.data).toEqualTypeOf<{ amount: number; currency: string }>();
          return e.data.currency;
        }
        expectTypeOf(e.data).toEqualTypeOf<{ customer: string; total: number }>();
        // @ts-expect-error order.created has no currency
        return e.data.currency as string;
      });
      expect(currencies).toEqual([undefined, 'EUR']);
      const { events: log } = await store.readLog();
      expectTypeOf(log).toEqualTypeOf<(Created | Paid)[]>();
      for await (const e of store.iterateLog()) expectTypeOf(e).toEqualTypeOf<Created | Paid>();
      await store.transaction(async (tx) => {
        expectTypeOf(await tx.readStream('order-1')).toEqualTypeOf<(Created | Paid)[]>();
      });
      // Command handling folds typed events.
      const handled = await store.handle(
        'order-1',
        (paid, { version }) => {
          expectTypeOf(paid).toEqualTypeOf<number>();
          return version === 2 ? [OrderPaid.create({ amount: 5, currency: 'EUR' })] : [];
        },
        {
          initialState: () => 0,
          evolve: (paid, e) => {
            expectTypeOf(e).toEqualTypeOf<Created | Paid>();
            return e.type === 'order.paid' ? paid + e.data.amount : paid;
          },
        },
      );
      expectTypeOf(handled.state).toEqualTypeOf<number>();
      expectTypeOf(handled.events).toEqualTypeOf<(Created | Paid)[]>();
      expect(handled.state).toBe(15);
      // A typed store is still a store: everything that takes an EventStore takes it.
      const plain: EventStore = store;
      expect(plain.schema).toBe('eventlane');
    } finally {
      await store.close();
    }
  });

  it("with undeclaredEvents: 'allow', reads may hold undeclared events too", () => {
    if (never()) {
      const _open = () => createEventStore({ events: [OrderPaid] });
      expectTypeOf<Awaited<ReturnType<typeof _open>>>().toEqualTypeOf<EventStore<Paid, NewPaid>>();
      const _allow = () => createEventStore({ events: [OrderPaid], undeclaredEvents: 'allow' });
      expectTypeOf<Awaited<ReturnType<typeof _allow>>>().toEqualTypeOf<
        EventStore<Paid | StoredEvent, NewPaid | NewEvent>
      >();
    }
    expect(true).toBe(true);
  });

  it('stays untyped without events, or with contracts the compiler cannot see', () => {
    expectTypeOf<EventsOf<[]>>().toEqualTypeOf<StoredEvent>();
    expectTypeOf<EventsOf<readonly AnyEventContract[]>>().toEqualTypeOf<StoredEvent>();
    expectTypeOf<EventsOf<[typeof Untyped]>>().toEqualTypeOf<
      StoredEvent<'misc.noted', Record<string, never>>
    >();
    if (never()) {
      const _open = () => createEventStore({ url: 'postgres://x' });
      expectTypeOf<Awaited<ReturnType<typeof _open>>>().toEqualTypeOf<EventStore>();
      const loaded: readonly AnyEventContract[] = [Untyped];
      const _some = () => createEventStore({ events: loaded });
      expectTypeOf<Awaited<ReturnType<typeof _some>>>().toEqualTypeOf<EventStore>();
    }
    expect(true).toBe(true);
  });
});

describe('typed append', () => {
  it('checks the data of each event against its contract: append, tx.append, enlist, a decision', async () => {
    const store = await createEventStore({ events: [OrderCreated, OrderPaid] });
    try {
      expectTypeOf<NewPaid>().toEqualTypeOf<
        | (NewEvent<'order.paid', { amount: number }> & { version?: 1 })
        | (NewEvent<'order.paid', { amount: number; currency: string }> & { version: 2 })
      >();
      await store.append('order-t1', [
        OrderCreated.create({ customer: 'ada', total: 10 }),
        // Without `version` an event is version 1, as the store validates it.
        { type: 'order.paid', data: { amount: 3 } },
        { type: 'order.paid', version: 2, data: { amount: 4, currency: 'USD' } },
        OrderPaid.create({ amount: 5, currency: 'GBP' }),
      ]);
      await store.transaction((tx) =>
        tx.append('order-t1', [{ type: 'order.created', data: { customer: 'bob', total: 1 } }]),
      );
      const handled = await store.handle('order-t1', () => [{ type: 'order.paid', data: { amount: 6 } }], {
        initialState: () => 0,
        evolve: (n, e) => (e.type === 'order.paid' ? n + e.data.amount : n),
      });
      expect(handled.state).toBe(3 + 4 + 5 + 6);
      if (never()) {
        // @ts-expect-error a type name no contract declares
        await store.append('s', [{ type: 'order.payed', data: { amount: 1 } }]);
        // @ts-expect-error amount must be a number
        await store.append('s', [{ type: 'order.paid', data: { amount: '1' } }]);
        // @ts-expect-error order.created needs a customer
        await store.append('s', [{ type: 'order.created', data: { total: 1 } }]);
        // @ts-expect-error version 2 of order.paid needs a currency
        await store.append('s', [{ type: 'order.paid', version: 2, data: { amount: 1 } }]);
        // @ts-expect-error order.paid has no version 3
        await store.append('s', [{ type: 'order.paid', version: 3, data: { amount: 1, currency: 'EUR' } }]);
        // @ts-expect-error the data of another type does not pass for this one
        await store.append('s', [{ type: 'order.created', data: { amount: 1, currency: 'EUR' } }]);
        await store.transaction(async (tx) => {
          // @ts-expect-error checked in a transaction as well
          await tx.append('s', [{ type: 'order.paid', data: { amount: null } }]);
        });
        // @ts-expect-error and in a caller's transaction
        await store.enlist({} as CallerTransaction).append('s', [{ type: 'order.shipped', data: {} }]);
        await store.handle(
          's',
          // @ts-expect-error a decision returns events of the store's contracts
          () => [{ type: 'order.paid', data: { total: 1 } }],
          { initialState: () => 0, evolve: (n) => n },
        );
      }
    } finally {
      await store.close();
    }
  });

  it("stays open without contracts, with contracts the compiler cannot see, and with undeclaredEvents: 'allow'", () => {
    expectTypeOf<NewEventsOf<[]>>().toEqualTypeOf<NewEvent>();
    expectTypeOf<NewEventsOf<readonly AnyEventContract[]>>().toEqualTypeOf<NewEvent>();
    if (never()) {
      const _plain = () => createEventStore();
      const _allow = () => createEventStore({ events: [OrderPaid], undeclaredEvents: 'allow' });
      const check = async (
        plain: Awaited<ReturnType<typeof _plain>>,
        allow: Awaited<ReturnType<typeof _allow>>,
      ) => {
        await plain.append('s', [{ type: 'anything.goes', data: { any: 'shape' } }]);
        await allow.append('s', [{ type: 'misc.other', data: 42 }]);
        // A typed store is still a store that takes plain events where an untyped one is expected.
        const typed = await createEventStore({ events: [OrderPaid] });
        const asPlain: EventStore = typed;
        await asPlain.append('s', [{ type: 'order.paid', data: { amount: 1 } }]);
      };
      void check;
    }
    expect(true).toBe(true);
  });
});

describe('consumers typed by a store', () => {
  it("take the store's contracts: handlers typed, keys checked, events upcast", async () => {
    const store = await createEventStore({ events: [OrderCreated, OrderPaid] });
    const plain = await createEventStore();
    try {
      const p = defineProjection({
        name: 'p',
        events: store,
        handlers: {
          'order.paid': async (e) => {
            expectTypeOf(e).toEqualTypeOf<Paid>();
          },
        },
      });
      const r = defineReactor({
        name: 'r',
        events: store,
        handlers: {
          'order.created': async (e) => {
            expectTypeOf(e.data).toEqualTypeOf<{ customer: string; total: number }>();
          },
        },
      });
      expect(p.events?.map((c) => c.type)).toEqual(['order.created', 'order.paid']);
      expect(r.events).toHaveLength(2);
      // A store without contracts gives an untyped consumer.
      const u = defineReactor({
        name: 'u',
        events: plain,
        handlers: {
          'any.type': async (e) => {
            expectTypeOf(e).toEqualTypeOf<StoredEvent>();
          },
        },
      });
      expect(u.events).toBeUndefined();
      if (never()) {
        // @ts-expect-error a typo in a handler key is a compile error with a typed store too
        defineReactor({ name: 'r', events: store, handlers: { 'order.piad': async () => {} } });
      }
      expect(() =>
        (defineReactor as (d: unknown) => unknown)({
          name: 'r',
          events: store,
          handlers: { 'order.piad': async () => {} },
        }),
      ).toThrow(/handler for "order.piad", which none of its events declares \(order.created, order.paid\)/);
    } finally {
      await store.close();
      await plain.close();
    }
  });
});

describe('typed consumers at run time', () => {
  it('hands a handler its event upcast to the current version, even from a store without contracts', async () => {
    const seen: unknown[] = [];
    const p = defineProjection({
      name: 'p',
      events: [OrderPaid],
      handlers: {
        'order.paid': async (e) => {
          seen.push([e.version, e.data]);
        },
      },
    });
    const old: StoredEvent = {
      id: '0190a0a0-0000-7000-8000-000000000001',
      type: 'order.paid',
      version: 1,
      stream: 'order-1',
      streamPosition: 1,
      globalPosition: 1n,
      checkpoint: '0',
      data: { amount: 5 },
      metadata: {},
      occurredAt: new Date(0),
      recordedAt: new Date(0),
    };
    await p.handlers['order.paid']!(old, {} as ProjectionContext);
    expect(seen).toEqual([[2, { amount: 5, currency: 'EUR' }]]);
    expect(old.data).toEqual({ amount: 5 }); // the stored event is not changed
  });

  it('refuses, with a readable error, a handler key none of the events declares (untyped JavaScript callers)', () => {
    const call = () =>
      (defineReactor as (d: unknown) => unknown)({
        name: 'r',
        events: [OrderPaid],
        handlers: { 'order.piad': async () => {} },
      });
    expect(call).toThrow(/handler for "order.piad", which none of its events declares \(order.paid\)/);
    expect(call).toThrow(expect.objectContaining({ code: 'EVENTLANE_INVALID_CONSUMER' }));
    const define = (events: unknown) => () =>
      (defineProjection as (d: unknown) => unknown)({
        name: 'p',
        events,
        handlers: { 'order.paid': async () => {} },
      });
    expect(define(['order.paid'])).toThrow(/events\[0\] is not a contract made with defineEvent/);
    expect(define([])).toThrow(/events must be a non-empty array/);
    expect(define(OrderPaid)).toThrow(/events must be a non-empty array/);
    expect(define([OrderPaid, OrderPaid])).toThrow(/lists "order.paid" twice/);
  });
});
