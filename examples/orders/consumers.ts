import { defineProjection, defineReactor } from '../../src/index.js';
import { OrderCreated, OrderPaid, OrderShipped } from './contracts.js';

/** Read model: one row per order. Its writes, order guard and checkpoint commit together. */
export const orderSummary = defineProjection({
  name: 'order_summary',
  events: [OrderCreated, OrderPaid, OrderShipped],
  handlers: {
    'order.created': async (e, { sql }) => {
      const d = e.data; // typed by OrderCreated v2 (v1 events are upcast)
      await sql`insert into order_summary (order_id, customer_id, total, currency, status)
                values (${e.stream}, ${d.customerId}, ${d.total}, ${d.currency}, 'created')`;
    },
    'order.paid': async (e, { sql }) => {
      await sql`update order_summary set status = 'paid' where order_id = ${e.stream}`;
    },
    'order.shipped': async (e, { sql }) => {
      await sql`update order_summary set status = 'shipped' where order_id = ${e.stream}`;
    },
  },
});

/** Read model: what each customer has paid. */
export const userBalance = defineProjection({
  name: 'user_balance',
  events: [OrderPaid],
  handlers: {
    'order.paid': async (e, { sql }) => {
      const d = e.data;
      await sql`insert into user_balance (customer_id, paid) values (${d.customerId}, ${d.amount})
                on conflict (customer_id) do update set paid = user_balance.paid + excluded.paid`;
    },
  },
});

/** Stands in for a mail provider that drops repeats of an idempotency key, as real ones do. */
export class Mailer {
  readonly sent = new Map<string, string>();
  calls = 0;
  send(to: string, text: string, idempotencyKey: string): Promise<{ messageId: string }> {
    this.calls++;
    if (!this.sent.has(idempotencyKey)) this.sent.set(idempotencyKey, `${to}: ${text}`);
    return Promise.resolve({ messageId: `msg-${this.sent.size}` });
  }
}

/** Side effect: a receipt per paid order, journaled and keyed so it is sent once. */
export function receiptMailer(mailer: Mailer) {
  return defineReactor({
    name: 'receipt-mailer',
    events: [OrderPaid],
    handlers: {
      'order.paid': async (e, { effect }) => {
        const d = e.data;
        await effect('send-receipt', (key) =>
          mailer.send(d.customerId, `receipt for ${e.stream}: ${d.amount}`, key),
        );
      },
    },
  });
}
