/**
 * The quick start: an embedded store (PGlite, no server), a unit of work that updates the service's own table
 * and appends events in one transaction, a rolled-back one that leaves nothing, and the log read in commit order.
 *
 * npm run demo                      (embedded)
 * DATABASE_URL=postgres://… npm run demo   (a PostgreSQL server)
 */
import { createEventStore, isConcurrencyError, LOG_START } from '../src/index.js';

const store = await createEventStore(
  process.env.DATABASE_URL ? { url: process.env.DATABASE_URL, schema: 'quickstart' } : {},
);
console.log(
  `eventlane quick start on ${store.driver === 'pglite' ? 'the embedded store (PGlite)' : 'PostgreSQL'}\n`,
);

await store.executor.query(
  'create table if not exists orders (id text primary key, status text not null, total numeric not null)',
);
await store.executor.query('truncate orders');
const orderId = `order-${Date.now().toString(36)}`;

// One transaction: the service's own row and its events commit together, or not at all.
await store.transaction(async (tx) => {
  await tx.sql`insert into orders (id, status, total) values (${orderId}, 'created', ${42.5})`;
  await tx.append(orderId, [{ type: 'order.created', data: { total: 42.5, currency: 'EUR' } }], {
    expectedVersion: 'no_stream',
  });
});

await store.transaction(async (tx) => {
  await tx.sql`update orders set status = 'paid' where id = ${orderId}`;
  await tx.append(
    orderId,
    [{ type: 'order.paid', data: { amount: 42.5 }, metadata: { actor: 'checkout' } }],
    { expectedVersion: 1 },
  );
});

// A stale writer still expecting version 1 is refused, and its transaction leaves nothing behind.
try {
  await store.transaction(async (tx) => {
    await tx.sql`update orders set status = 'cancelled' where id = ${orderId}`;
    await tx.append(orderId, [{ type: 'order.cancelled', data: { reason: 'changed mind' } }], {
      expectedVersion: 1,
    });
  });
} catch (error) {
  if (!isConcurrencyError(error)) throw error;
  console.log(`refused: ${error.message}\n`);
}

const [order] = await store.executor.query<{ status: string }>('select status from orders where id = $1', [
  orderId,
]);
console.log(`orders row: ${orderId} is ${order?.status}`);
for (const e of await store.readStream(orderId)) {
  console.log(`  ${e.stream}#${e.streamPosition}  ${e.type.padEnd(15)} ${JSON.stringify(e.data)}`);
}

const log = await store.readLog({ after: LOG_START, limit: 100 });
console.log(`\nlog, in commit order: ${log.events.map((e) => `${e.type}@${e.checkpoint}`).join(', ')}`);
console.log(`continue reading after checkpoint ${log.checkpoint}`);
await store.close();
