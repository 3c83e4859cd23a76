/**
 * Type-level tests: checked by `tsc --noEmit` (the `@ts-expect-error` lines fail the type check when the error
 * they expect disappears); the runtime assertions only keep vitest counting them.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { defineEvent, type EventData, type EventOf, type NewEvent, type StoredEvent } from '../src/index.js';

const v1 = z.object({ amount: z.number() });
const v2 = z.object({ amount: z.number(), currency: z.string() });
const v3 = z.object({ amount: z.number(), currency: z.string(), note: z.string().optional() });

describe('defineEvent types', () => {
  it('types create() and readers by the current version', () => {
    const OrderPaid = defineEvent({
      type: 'order.paid',
      owner: 'payments',
      versions: { 1: v1, 2: v2 },
      upcast: {
        1: (data) => {
          expectTypeOf(data).toEqualTypeOf<{ amount: number }>();
          return { ...data, currency: 'EUR' };
        },
      },
    });
    expectTypeOf(OrderPaid.currentVersion).toEqualTypeOf<2>();
    expectTypeOf(OrderPaid.type).toEqualTypeOf<'order.paid'>();
    expectTypeOf<EventData<typeof OrderPaid>>().toEqualTypeOf<{ amount: number; currency: string }>();
    expectTypeOf<EventOf<typeof OrderPaid>>().toEqualTypeOf<
      StoredEvent<'order.paid', { amount: number; currency: string }>
    >();
    const event = OrderPaid.create({ amount: 10, currency: 'EUR' });
    expectTypeOf(event.version).toEqualTypeOf<2>();
    expectTypeOf(event).toExtend<NewEvent>();
    // @ts-expect-error currency is required at the current version
    OrderPaid.create({ amount: 10 });
    // @ts-expect-error amount must be a number
    OrderPaid.create({ amount: '10', currency: 'EUR' });

    // Handlers narrow a stored event to the current version's data.
    const handle = (e: StoredEvent) => {
      if (OrderPaid.is(e)) expectTypeOf(e.data.currency).toEqualTypeOf<string>();
    };
    handle({} as StoredEvent);
  });

  it('creates events the store accepts, optional fields and all', () => {
    const WithNote = defineEvent({
      type: 'order.noted',
      owner: 'orders',
      versions: { 1: v3 },
      upcast: {},
    });
    const events: NewEvent[] = [
      WithNote.create({ amount: 1, currency: 'EUR' }),
      WithNote.create({ amount: 1, currency: 'EUR', note: 'n' }),
    ];
    expectTypeOf(events).toEqualTypeOf<NewEvent[]>();
    // Handlers typed by the current version, as a projection's handler map would be.
    const handlers = {
      'order.noted': (e: EventOf<typeof WithNote>) => e.data.note?.toUpperCase(),
    };
    expectTypeOf(handlers['order.noted']).parameter(0).toHaveProperty('data').toEqualTypeOf<{
      amount: number;
      currency: string;
      note?: string | undefined;
    }>();
  });

  it('refuses a chain with a missing upcaster', () => {
    expect(() =>
      defineEvent({
        type: 'order.paid',
        owner: 'payments',
        versions: { 1: v1, 2: v2, 3: v3 },
        // @ts-expect-error upcast[2] (v2 → v3) is missing
        upcast: { 1: (d) => ({ ...d, currency: 'EUR' }) },
      }),
    ).toThrow();
  });

  it('refuses an upcaster that does not produce the next version', () => {
    expect(() =>
      defineEvent({
        type: 'order.paid',
        owner: 'payments',
        versions: { 1: v1, 2: v2 },
        // @ts-expect-error v2 needs currency; this upcaster returns v1's shape
        upcast: { 1: (d) => ({ amount: d.amount }) },
      }),
    ).not.toThrow(); // only the compiler (and `contracts check`: upcaster-broken) can see this one
  });

  it('refuses versions with a gap or not starting at 1', () => {
    expect(() =>
      defineEvent({
        type: 'order.paid',
        owner: 'payments',
        // @ts-expect-error version 2 is missing between 1 and 3
        versions: { 1: v1, 3: v3 },
        upcast: {},
      }),
    ).toThrow();
    expect(() =>
      defineEvent({
        type: 'order.paid',
        owner: 'payments',
        // @ts-expect-error the chain must start at version 1
        versions: { 2: v2 },
        upcast: {},
      }),
    ).toThrow();
  });

  it('needs no upcasters for a single version and refuses extra ones', () => {
    const One = defineEvent({ type: 'order.noted', owner: 'orders', versions: { 1: v1 }, upcast: {} });
    expectTypeOf(One.currentVersion).toEqualTypeOf<1>();
    expect(() =>
      defineEvent({
        type: 'order.noted',
        owner: 'orders',
        versions: { 1: v1 },
        // @ts-expect-error there is no version after 1 to upcast to
        upcast: { 1: (d: { amount: number }) => d },
      }),
    ).toThrow();
  });
});
