/**
 * The load generator: the orders service under a few thousand orders, placed by concurrent writers. A checkout
 * writes the service's own row and appends its events in one transaction (the log is the outbox); shipping and
 * refunding go through `store.handle` (read the stream, fold, decide, append with the version read).
 */
import type { OrdersStore } from './setup.js';
import { OrderCreated, OrderPaid, OrderRefunded, OrderShipped } from './contracts.js';

export interface LoadOptions {
  orders: number;
  writers: number;
  /** The customer whose payment cannot go through (its order is the poison event). */
  poisonCustomer: string;
  /** Called after each order with the number placed so far. */
  onOrder?: (placed: number) => void | Promise<void>;
}

export interface LoadResult {
  placed: number;
  paid: number;
  shipped: number;
  refunded: number;
  /** Orders written by an older producer, as version 1 of order.created. */
  legacyV1: number;
  poisonOrder: string;
}

type Status = 'none' | 'created' | 'paid' | 'shipped' | 'refunded';
const evolve = (state: Status, e: { type: string }): Status =>
  e.type === 'order.created'
    ? 'created'
    : e.type === 'order.paid'
      ? 'paid'
      : e.type === 'order.shipped'
        ? 'shipped'
        : e.type === 'order.refunded'
          ? 'refunded'
          : state;

export async function placeOrders(store: OrdersStore, schema: string, o: LoadOptions): Promise<LoadResult> {
  const result: LoadResult = { placed: 0, paid: 0, shipped: 0, refunded: 0, legacyV1: 0, poisonOrder: '' };
  const poisonAt = Math.max(1, Math.floor(o.orders / 3));
  let next = 0;

  const placeOne = async (i: number) => {
    const id = `order-${i}`;
    const poison = i === poisonAt;
    const customerId = poison ? o.poisonCustomer : `customer-${i % 61}`;
    const total = 5 + ((i * 37) % 200);
    const legacy = i % 100 === 0;
    const currency = legacy || i % 3 !== 0 ? 'EUR' : 'USD';
    if (poison) result.poisonOrder = id;

    // Checkout: the order row and its events in one transaction; most orders are paid at checkout.
    const paid = i % 10 !== 9 || poison;
    await store.transaction(async (tx) => {
      await tx.query(
        `insert into ${schema}.orders (id, customer_id, total, currency, status) values ($1, $2, $3, $4, $5)`,
        [id, customerId, total, currency, paid ? 'paid' : 'created'],
      );
      // An older producer still writes version 1 (no currency): readers get it upcast to version 2.
      const created = legacy
        ? { type: 'order.created' as const, version: 1 as const, data: { customerId, total } }
        : OrderCreated.create({ customerId, total, currency });
      const payment = OrderPaid.create({ customerId, amount: total });
      await tx.append(id, paid ? [created, payment] : [created], { expectedVersion: 'no_stream' });
    });
    if (legacy) result.legacyV1++;
    if (!paid) return;
    result.paid++;

    const refund = poison || i % 10 === 3;
    const ship = !refund && i % 10 !== 8;
    if (!refund && !ship) return;
    await store.handle<Status>(
      id,
      async (state, { tx }) => {
        if (state !== 'paid') return []; // only a paid order ships or is refunded
        const status = refund ? 'refunded' : 'shipped';
        await tx.query(`update ${schema}.orders set status = $2, refunded = $3 where id = $1`, [
          id,
          status,
          refund ? total : 0,
        ]);
        return [
          refund
            ? OrderRefunded.create({
                customerId,
                amount: total,
                reason: poison ? 'card declined' : 'damaged',
              })
            : OrderShipped.create({ carrier: i % 2 === 0 ? 'DHL' : 'UPS' }),
        ];
      },
      { evolve, initialState: () => 'none' },
    );
    if (refund) result.refunded++;
    else result.shipped++;
  };

  const writer = async () => {
    for (;;) {
      const i = ++next;
      if (i > o.orders) return;
      await placeOne(i);
      result.placed++;
      await o.onOrder?.(result.placed);
    }
  };
  await Promise.all(Array.from({ length: o.writers }, writer));
  return result;
}
