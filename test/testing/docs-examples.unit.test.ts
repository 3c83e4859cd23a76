/* eslint-disable @typescript-eslint/require-await -- handlers must return promises (these have nothing to await) */
/** The examples of docs/commands.md and docs/testing.md, run as written (keep them in step with the docs). */
import { describe, expect, it } from 'vitest';
import { createEventStore, defineReactor, type EventsOf, type JsonValue } from '../../src/index.js';
import { deciderSpec, idempotencyKey, projectionSpec, reactorSpec } from '../../src/testing/index.js';
import { CartCheckedOut, ItemAdded, OrderPaid, OrderPlaced, orderTotals } from '../fixtures/orders.js';

describe('docs/commands.md', () => {
  it('handles commands on a typed store, with SQL in the same transaction and snapshots', async () => {
    const store = await createEventStore({ events: [ItemAdded, CartCheckedOut] });
    try {
      type Cart = { total: number; open: boolean };
      const cart = {
        initialState: (): Cart => ({ total: 0, open: true }),
        // `e` is typed by the store's contracts: a union discriminated by `type`.
        evolve: (state: Cart, e: Awaited<ReturnType<typeof store.readStream>>[number]): Cart =>
          e.type === 'cart.item_added'
            ? { ...state, total: state.total + e.data.price }
            : { ...state, open: false },
      };

      const { state, result } = await store.handle(
        'cart-42',
        (current) => {
          if (!current.open) throw new Error('the cart is checked out');
          return [ItemAdded.create({ sku: 'tea', price: 4 })];
        },
        cart,
      );
      expect(state).toEqual({ total: 4, open: true });
      expect(result?.positions).toEqual([1]);

      await store.executor.query('create table cart_totals (cart text primary key, total int)');
      await store.handle(
        'cart-42',
        async (current, { tx }) => {
          await tx.sql`insert into cart_totals (cart, total) values ('cart-42', ${current.total + 4})
                       on conflict (cart) do update set total = excluded.total`;
          return [ItemAdded.create({ sku: 'tea', price: 4 })];
        },
        cart,
      );
      expect(await store.executor.query('select cart, total from cart_totals')).toEqual([
        { cart: 'cart-42', total: 8 },
      ]);

      const decide = (current: Cart) =>
        current.open ? [CartCheckedOut.create({ total: current.total })] : [];
      const out = await store.handle('cart-42', decide, {
        ...cart,
        snapshots: { name: 'cart', every: 100, version: 1 },
      });
      expect(out.state).toEqual({ total: 8, open: false });
      await expect(
        store.handle(
          'cart-42',
          (current) => (current.open ? [] : Promise.reject(new Error('the cart is checked out'))),
          cart,
        ),
      ).rejects.toThrow('the cart is checked out');
    } finally {
      await store.close();
    }
  });
});

describe('docs/testing.md', () => {
  it('deciders', async () => {
    type Order = { placed: boolean; total: number; paid: boolean };
    const order = {
      initialState: (): Order => ({ placed: false, total: 0, paid: false }),
      evolve: (state: Order, e: EventsOf<[typeof OrderPlaced, typeof OrderPaid]>): Order =>
        e.type === 'order.placed'
          ? { ...state, placed: true, total: e.data.total }
          : { ...state, paid: true },
      decide: (command: { pay: number }, state: Order) => {
        if (!state.placed) throw new Error('no such order');
        if (state.paid) return [];
        return [OrderPaid.create({ amount: command.pay, currency: 'EUR' })];
      },
    };

    const spec = deciderSpec(order, { events: [OrderPlaced, OrderPaid] });

    await spec
      .given([OrderPlaced.create({ total: 10 })])
      .when({ pay: 10 })
      .then([OrderPaid.create({ amount: 10, currency: 'EUR' })]);
    await spec
      .given([OrderPlaced.create({ total: 10 }), OrderPaid.create({ amount: 10, currency: 'EUR' })])
      .when({ pay: 10 })
      .thenNothing();
    await spec.when({ pay: 10 }).thenThrows('no such order');
  });

  it('projections', async () => {
    const totals = orderTotals; // defined as in the docs, in test/fixtures/orders.ts

    await projectionSpec(totals)
      .given(
        [OrderPlaced.create({ total: 10 }), OrderPaid.create({ amount: 10, currency: 'EUR' })],
        'order-1',
      )
      .given([OrderPlaced.create({ total: 5 })], 'order-2')
      .then('order_totals', [
        { id: 'order-1', total: 10, paid: 10 },
        { id: 'order-2', total: 5, paid: null },
      ]);
  });

  it('reactors', async () => {
    const outbox: JsonValue[] = [];
    const mailer = {
      send: async (data: { amount: number; currency: string }, options: { idempotencyKey: string }) => {
        outbox.push({ ...data, key: options.idempotencyKey });
      },
    };
    const receipts = defineReactor({
      name: 'receipt-mailer',
      events: [OrderPaid],
      handlers: {
        'order.paid': async (e, { effect }) => {
          await effect('send-receipt', (key) => mailer.send(e.data, { idempotencyKey: key }));
        },
      },
    });

    const paid = OrderPaid.create({ amount: 10, currency: 'EUR' });
    await reactorSpec(receipts)
      .given([paid], 'order-1')
      .then([{ effect: 'send-receipt', key: idempotencyKey('receipt-mailer', paid.id, 'send-receipt') }]);
    expect(outbox).toEqual([]); // recorded, not performed
  });
});
