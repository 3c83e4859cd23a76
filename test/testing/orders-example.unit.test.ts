/** The orders example's consumers (examples/orders), specified with eventlane/testing. */
import { describe, expect, it } from 'vitest';
import { idempotencyKey, projectionSpec, reactorSpec } from '../../src/testing/index.js';
import { Mailer, orderSummary, receiptMailer, userBalance } from '../../examples/orders/consumers.js';
import { events, OrderCreated, OrderPaid, OrderShipped } from '../../examples/orders/contracts.js';

const TABLES = `
  create table order_summary (order_id text primary key, customer_id text, total numeric, currency text, status text);
  create table user_balance (customer_id text primary key, paid numeric not null);`;

describe('examples/orders with the test kit', () => {
  it('order_summary: one row per order, its status following the events (a v1 order read as EUR)', async () => {
    await projectionSpec(orderSummary, { events, setup: TABLES })
      .given(
        [
          OrderCreated.create({ customerId: 'ada', total: 30, currency: 'USD' }),
          OrderPaid.create({ customerId: 'ada', amount: 30 }),
          OrderShipped.create({ carrier: 'dhl' }),
        ],
        'order-1',
      )
      .given([{ type: 'order.created', version: 1, data: { customerId: 'bob', total: 12 } }], 'order-2')
      .then(async ({ query }) => {
        expect(await query('select * from order_summary order by order_id')).toEqual([
          { order_id: 'order-1', customer_id: 'ada', total: '30', currency: 'USD', status: 'shipped' },
          { order_id: 'order-2', customer_id: 'bob', total: '12', currency: 'EUR', status: 'created' },
        ]);
      });
  });

  it('user_balance: what each customer has paid', async () => {
    await projectionSpec(userBalance, { events, setup: TABLES })
      .given([OrderPaid.create({ customerId: 'ada', amount: 30 })], 'order-1')
      .given([OrderPaid.create({ customerId: 'ada', amount: 5 })], 'order-2')
      .then(async ({ query }) => {
        expect(await query('select customer_id, paid from user_balance')).toEqual([
          { customer_id: 'ada', paid: '35' },
        ]);
      });
  });

  it('receipt-mailer: one receipt per paid order, keyed by the event', async () => {
    const paid = OrderPaid.create({ customerId: 'ada', amount: 30 });
    const mailer = new Mailer();
    await reactorSpec(receiptMailer(mailer))
      .given([OrderCreated.create({ customerId: 'ada', total: 30, currency: 'EUR' }), paid], 'order-1')
      .then([{ effect: 'send-receipt', key: idempotencyKey('receipt-mailer', paid.id, 'send-receipt') }]);
    expect(mailer.calls).toBe(0); // recorded, not sent
  });
});
