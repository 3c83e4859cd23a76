/**
 * The orders demo's consumers: three read models (projections) and two reactors. Handlers are typed by the
 * contracts they declare: `e.data.amount` is a number, no cast.
 */
import { defineProjection, defineReactor } from '../../src/index.js';
import { OrderCreated, OrderPaid, OrderRefunded, OrderShipped } from './contracts.js';
import { sendReceipt } from './mail-service.js';
import type { PaymentGateway } from './payments.js';

const ALL = [OrderCreated, OrderPaid, OrderShipped, OrderRefunded];

/** A read-model table in `schema` (quoted), or unqualified (found on the search path). */
const qualified = (schema: string | undefined, table: string) => (schema ? `${schema}.${table}` : table);

/**
 * order_summary, a versioned read model: one row per order. A higher version is built blue/green beside the live
 * one (`order_summary__v2`) while readers keep using the stable name, and switches live once it has caught up.
 * v2 adds the carrier and the refunded amount; v3 adds the number of events folded into the row.
 */
export function orderSummary(version: 1 | 2 | 3) {
  const extra = version >= 2 ? ', carrier text, refunded numeric not null default 0' : '';
  const events = version >= 3 ? ', events integer not null default 1' : '';
  const bump = version >= 3 ? ', events = t.events + 1' : '';
  return defineProjection({
    name: 'order_summary',
    version,
    events: ALL,
    tables: {
      order_summary: `create table :TABLE: (order_id text primary key, customer_id text not null,
        total numeric not null, currency text not null, status text not null${extra}${events})`,
    },
    handlers: {
      'order.created': async (e, { query, tables }) => {
        await query(
          `insert into ${tables.order_summary} (order_id, customer_id, total, currency, status)
           values ($1, $2, $3, $4, 'created')`,
          [e.stream, e.data.customerId, e.data.total, e.data.currency], // v1 events arrive upcast: currency EUR
        );
      },
      'order.paid': async (e, { query, tables }) => {
        await query(`update ${tables.order_summary} t set status = 'paid'${bump} where order_id = $1`, [
          e.stream,
        ]);
      },
      'order.shipped': async (e, { query, tables }) => {
        const carrier = version >= 2 ? ', carrier = $2' : '';
        await query(
          `update ${tables.order_summary} t set status = 'shipped'${carrier}${bump} where order_id = $1`,
          version >= 2 ? [e.stream, e.data.carrier] : [e.stream],
        );
      },
      'order.refunded': async (e, { query, tables }) => {
        const refunded = version >= 2 ? ', refunded = t.refunded + $2' : '';
        await query(
          `update ${tables.order_summary} t set status = 'refunded'${refunded}${bump} where order_id = $1`,
          version >= 2 ? [e.stream, e.data.amount] : [e.stream],
        );
      },
    },
  });
}

/**
 * user_balance: what each customer has paid and been refunded. `withRefunds: false` is the release with the bug
 * (refunds ignored); the fix handles them, and a backfill re-applies the refunds of the past.
 */
export function userBalance(schema: string | undefined, withRefunds: boolean) {
  const table = qualified(schema, 'user_balance');
  return defineProjection({
    name: 'user_balance',
    events: [OrderPaid, OrderRefunded],
    handlers: {
      'order.paid': async (e, { query }) => {
        await query(
          `insert into ${table} (customer_id, paid, refunded) values ($1, $2, 0)
           on conflict (customer_id) do update set paid = ${table}.paid + excluded.paid`,
          [e.data.customerId, e.data.amount],
        );
      },
      'order.refunded': async (e, { query }) => {
        if (!withRefunds) return; // the bug: refunds never reach the balance
        await query(
          `insert into ${table} (customer_id, paid, refunded) values ($1, 0, $2)
             on conflict (customer_id) do update set refunded = ${table}.refunded + excluded.refunded`,
          [e.data.customerId, e.data.amount],
        );
      },
    },
  });
}

/** order_search: full-text search over orders (a PostgreSQL tsvector with a GIN index). */
export function orderSearch(schema: string | undefined) {
  const table = qualified(schema, 'order_search');
  // The right-hand `body` is the row's value before the update.
  const addWords = `update ${table} set body = body || ' ' || $2, doc = to_tsvector('simple', body || ' ' || $2)
                     where order_id = $1`;
  return defineProjection({
    name: 'order_search',
    events: [OrderCreated, OrderShipped, OrderRefunded],
    handlers: {
      'order.created': async (e, { query }) => {
        const body = `${e.stream} ${e.data.customerId} ${e.data.currency} created`;
        await query(
          `insert into ${table} (order_id, body, doc) values ($1, $2::text, to_tsvector('simple', $2::text))`,
          [e.stream, body],
        );
      },
      'order.shipped': async (e, { query }) => {
        await query(addWords, [e.stream, `shipped ${e.data.carrier}`]);
      },
      'order.refunded': async (e, { query }) => {
        await query(addWords, [e.stream, `refunded ${e.data.reason}`]);
      },
    },
  });
}

/** The read-model tables of the handler-only projections (the versioned order_summary creates its own). */
export function readModelTables(schema?: string): string {
  return `
    create table ${qualified(schema, 'user_balance')} (customer_id text primary key, paid numeric not null,
      refunded numeric not null);
    create table ${qualified(schema, 'order_search')} (order_id text primary key, body text not null,
      doc tsvector not null);
    create index order_search_doc on ${qualified(schema, 'order_search')} using gin (doc);`;
}

/** receipt-mailer: a receipt per paid order through the mail service, keyed by the effect journal's key. */
export function receiptMailer(mailUrl: string) {
  return defineReactor({
    name: 'receipt-mailer',
    events: [OrderPaid],
    handlers: {
      'order.paid': async (e, { effect }) => {
        await effect('send-receipt', (key) =>
          sendReceipt(mailUrl, key, { to: e.data.customerId, order: e.stream, amount: e.data.amount }),
        );
      },
    },
  });
}

/** payment-capture: captures each payment and each refund at the gateway, which fails now and then. */
export function paymentCapture(gateway: PaymentGateway) {
  return defineReactor({
    name: 'payment-capture',
    events: [OrderPaid, OrderRefunded],
    handlers: {
      'order.paid': async (e, { effect }) => {
        await effect('capture', (key) => gateway.capture(key, e.stream, e.data.customerId, e.data.amount));
      },
      'order.refunded': async (e, { effect }) => {
        await effect('refund', (key) => gateway.refund(key, e.stream, e.data.amount));
      },
    },
  });
}
