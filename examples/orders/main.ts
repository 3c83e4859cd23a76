/**
 * The eventlane demo, on the embedded store (no server): an orders service writes its state and its events in
 * one transaction; a worker applies them to two read models and a receipt mailer, in order per order and once.
 *
 * npm run demo                              (embedded, in memory)
 * DATABASE_URL=postgres://… npm run demo    (a PostgreSQL server, schema "orders_demo")
 */
import {
  createEventStore,
  createWorker,
  isEventlaneError,
  type EventStoreTransaction,
} from '../../src/index.js';
import { events, OrderCreated, OrderPaid, OrderShipped } from './contracts.js';
import { Mailer, orderSummary, receiptMailer, userBalance } from './consumers.js';

const url = process.env.DATABASE_URL;
const store = await createEventStore(url ? { url, schema: 'orders_demo', events } : { events });
const say = (line = '') => console.log(line);
say(
  `eventlane demo on ${store.driver === 'pglite' ? 'the embedded store (PGlite, in memory)' : 'PostgreSQL'}\n`,
);

await store.executor.exec(`
  drop table if exists orders, order_summary, user_balance;
  create table orders (id text primary key, customer_id text not null, status text not null);
  create table order_summary (order_id text primary key, customer_id text, total numeric, currency text, status text);
  create table user_balance (customer_id text primary key, paid numeric not null);
`);

// The service: its own row and its events in one transaction.
async function placeOrder(tx: EventStoreTransaction, id: string, customerId: string, total: number) {
  await tx.sql`insert into orders (id, customer_id, status) values (${id}, ${customerId}, 'created')`;
  await tx.append(id, [OrderCreated.create({ customerId, total, currency: 'EUR' })], {
    expectedVersion: 'no_stream',
  });
}
async function pay(
  tx: EventStoreTransaction,
  id: string,
  customerId: string,
  amount: number,
  expectedVersion: number,
) {
  await tx.sql`update orders set status = 'paid' where id = ${id}`;
  await tx.append(id, [OrderPaid.create({ customerId, amount })], { expectedVersion });
}

const customers = ['ann', 'bob', 'eve'];
for (let i = 1; i <= 12; i++) {
  const id = `order-${i}`;
  const customer = customers[i % 3]!;
  await store.transaction(async (tx) => {
    await placeOrder(tx, id, customer, 10 * i);
    if (i % 4 !== 0) await pay(tx, id, customer, 10 * i, 1);
  });
  if (i % 2 === 0 && i % 4 !== 0)
    await store.append(id, [OrderShipped.create({ carrier: 'DHL' })], { expectedVersion: 2 });
}
// An order written by an older producer, at version 1 of order.created: read as version 2 (currency EUR).
await store.append('order-legacy', [
  { type: 'order.created', version: 1, data: { customerId: 'ann', total: 5 } },
]);
say('placed 13 orders (one of them as a version-1 event from an older producer)');

// Refusals leave nothing behind.
const refusals: [string, () => Promise<unknown>][] = [
  ['a stale writer', () => store.transaction((tx) => pay(tx, 'order-1', 'bob', 10, 1))],
  [
    'an amount the contract forbids',
    () => store.append('order-2', [OrderPaid.create({ customerId: 'eve', amount: -5 })]),
  ],
  [
    'an undeclared event type',
    // The compiler refuses it too; the store refuses it at run time, for events whose types it cannot see.
    // @ts-expect-error order.teleported is not among the store's contracts
    () => store.append('order-3', [{ type: 'order.teleported', data: {} }]),
  ],
];
for (const [what, attempt] of refusals) {
  const error = await attempt().then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isEventlaneError(error)) throw new Error(`${what} was not refused`);
  say(`refused ${what}: ${error.code}\n  ${error.message.split('\n').slice(0, 2).join(' ')}`);
}

// The consumers: two read models and a reactor, from the log.
const mailer = new Mailer();
const worker = createWorker(store, {
  from: 'log',
  consumers: [orderSummary, userBalance, receiptMailer(mailer)],
  leaseTtlMs: 3000,
  pollIntervalMs: 10,
});
await worker.start();
for (let i = 0; i < 500; i++) {
  const health = await worker.health();
  if (health.every((h) => h.eventsBehind === 0)) break;
  await new Promise((r) => setTimeout(r, 20));
}
await worker.stop();

say('\norder_summary (read model):');
for (const r of await store.executor.query<Record<string, unknown>>(
  'select * from order_summary order by length(order_id), order_id',
)) {
  say(
    `  ${String(r.order_id).padEnd(13)} ${String(r.customer_id).padEnd(4)} ${String(r.total).padStart(4)} ${String(r.currency)}  ${String(r.status)}`,
  );
}
say('user_balance (read model):');
for (const r of await store.executor.query<Record<string, unknown>>(
  'select * from user_balance order by customer_id',
)) {
  say(`  ${String(r.customer_id).padEnd(4)} ${String(r.paid)}`);
}
say(`receipts sent: ${mailer.sent.size} (mailer called ${mailer.calls} times)`);

// A second worker over the same log: the reactor's order guard (and behind it the effect journal) keeps
// receipts from repeating.
const again = createWorker(store, { from: 'log', consumers: [receiptMailer(mailer)], leaseTtlMs: 3000 });
await again.start();
await new Promise((r) => setTimeout(r, 300));
await again.stop();
say(
  `after a second worker ran the reactor: receipts sent ${mailer.sent.size}, mailer called ${mailer.calls} times`,
);

const head = await store.head();
say(
  `\nlog head: checkpoint ${head.checkpoint}; ${(await store.readLog({ limit: 1000 })).events.length} events in commit order`,
);
await store.close();
