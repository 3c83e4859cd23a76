/** The orders example's consumers (examples/orders), specified with eventlane/testing. */
import { describe, expect, it } from 'vitest';
import { idempotencyKey, projectionSpec, reactorSpec } from '../../src/testing/index.js';
import {
  orderSearch,
  orderSummary,
  paymentCapture,
  readModelTables,
  receiptMailer,
  userBalance,
} from '../../examples/orders/consumers.js';
import {
  events,
  OrderCreated,
  OrderPaid,
  OrderRefunded,
  OrderShipped,
} from '../../examples/orders/contracts.js';
import { PaymentGateway } from '../../examples/orders/payments.js';

describe('examples/orders with the test kit', () => {
  it('order_summary v1 and v2: one row per order, its status following the events (a v1 order read as EUR)', async () => {
    for (const version of [1, 2] as const) {
      await projectionSpec(orderSummary(version), { events })
        .given(
          [
            OrderCreated.create({ customerId: 'ada', total: 30, currency: 'USD' }),
            OrderPaid.create({ customerId: 'ada', amount: 30 }),
            OrderShipped.create({ carrier: 'DHL' }),
          ],
          'order-1',
        )
        .given([{ type: 'order.created', version: 1, data: { customerId: 'bob', total: 12 } }], 'order-2')
        .then(async ({ query, tables }) => {
          const rows = await query(
            `select order_id, customer_id, total, currency, status${version === 2 ? ', carrier' : ''}
               from ${tables.order_summary!} order by order_id`,
          );
          expect(rows).toEqual([
            {
              order_id: 'order-1',
              customer_id: 'ada',
              total: '30',
              currency: 'USD',
              status: 'shipped',
              ...(version === 2 && { carrier: 'DHL' }),
            },
            {
              order_id: 'order-2',
              customer_id: 'bob',
              total: '12',
              currency: 'EUR',
              status: 'created',
              ...(version === 2 && { carrier: null }),
            },
          ]);
        });
    }
  });

  it('user_balance: the release with the bug ignores refunds, the fix counts them', async () => {
    for (const withRefunds of [false, true]) {
      await projectionSpec(userBalance(undefined, withRefunds), { events, setup: readModelTables() })
        .given([OrderPaid.create({ customerId: 'ada', amount: 30 })], 'order-1')
        .given(
          [
            OrderPaid.create({ customerId: 'ada', amount: 5 }),
            OrderRefunded.create({ customerId: 'ada', amount: 5, reason: 'damaged' }),
          ],
          'order-2',
        )
        .then(async ({ query }) => {
          expect(await query('select customer_id, paid, refunded from user_balance')).toEqual([
            { customer_id: 'ada', paid: '35', refunded: withRefunds ? '5' : '0' },
          ]);
        });
    }
  });

  it('order_search: finds orders by customer, carrier and refund reason', async () => {
    await projectionSpec(orderSearch(undefined), { events, setup: readModelTables() })
      .given(
        [
          OrderCreated.create({ customerId: 'ada', total: 30, currency: 'EUR' }),
          OrderPaid.create({ customerId: 'ada', amount: 30 }),
          OrderShipped.create({ carrier: 'DHL' }),
        ],
        'order-1',
      )
      .given(
        [
          OrderCreated.create({ customerId: 'bob', total: 9, currency: 'USD' }),
          OrderPaid.create({ customerId: 'bob', amount: 9 }),
          OrderRefunded.create({ customerId: 'bob', amount: 9, reason: 'damaged' }),
        ],
        'order-2',
      )
      .then(async ({ query }) => {
        const find = async (words: string) =>
          (
            await query<{ order_id: string }>(
              `select order_id from order_search where doc @@ plainto_tsquery('simple', $1) order by order_id`,
              [words],
            )
          ).map((r) => r.order_id);
        expect(await find('dhl')).toEqual(['order-1']);
        expect(await find('bob damaged')).toEqual(['order-2']);
        expect(await find('usd')).toEqual(['order-2']);
      });
  });

  it('receipt-mailer and payment-capture: one effect per event, keyed by the event', async () => {
    const paid = OrderPaid.create({ customerId: 'ada', amount: 30 });
    await reactorSpec(receiptMailer('http://127.0.0.1:1'))
      .given([OrderCreated.create({ customerId: 'ada', total: 30, currency: 'EUR' }), paid], 'order-1')
      .then([{ effect: 'send-receipt', key: idempotencyKey('receipt-mailer', paid.id, 'send-receipt') }]);
    const gateway = new PaymentGateway(1);
    await reactorSpec(paymentCapture(gateway))
      .given([paid], 'order-1')
      .then([{ effect: 'capture', key: idempotencyKey('payment-capture', paid.id, 'capture') }]);
    expect(gateway.captured.size).toBe(0); // recorded, not performed
  });
});
