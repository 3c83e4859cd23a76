/** How the demo knows it is done waiting, and the figures it checks against the service's own table. */
import type { Worker } from '../../src/index.js';
import type { MailService } from './mail-service.js';
import type { Runtime } from './runtime.js';

export async function waitFor(
  what: string,
  done: () => Promise<boolean>,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Until every consumer stands at the head with nothing retrying or parked, and the relay has published all. */
export async function waitCaughtUp(rt: Runtime, worker: Worker, what: string): Promise<void> {
  await waitFor(
    what,
    async () => {
      const health = await worker.health();
      const relay = await rt.relay.stats();
      return (
        relay.backlogEvents === 0 &&
        health.every((h) => h.eventsBehind === 0 && h.retrying === 0 && h.parked === 0)
      );
      // The reactors calling out are the slowest to catch up on the embedded store (one connection for all).
    },
    300_000,
  );
}

async function count(rt: Runtime, sql: string): Promise<number> {
  const [row] = await rt.store.executor.query<{ n: number }>(`select (${sql})::int as n`);
  return row?.n ?? 0;
}

export interface Figures {
  appended: number;
  published: number;
  orderSummary: number;
  /** Orders whose order_summary row disagrees with the orders table (status, total, customer). */
  summaryMismatches: number;
  userBalance: number;
  orderSearch: number;
  searchHitsDhl: number;
  paidOrders: number;
  ordersWithoutReceipt: number;
}

export async function countRows(rt: Runtime, mail: MailService): Promise<Figures> {
  const rm = rt.rm;
  const paid = await rt.store.executor.query<{ id: string }>(
    `select id from ${rm}.orders where status <> 'created'`,
  );
  return {
    appended: await count(rt, `select count(*) from ${rm}.events`),
    published: (await rt.relay.stats()).published,
    orderSummary: await count(rt, `select count(*) from ${rm}.order_summary`),
    summaryMismatches: await count(
      rt,
      `select count(*) from ${rm}.orders o full join ${rm}.order_summary s on s.order_id = o.id
        where s.order_id is null or o.id is null or s.status <> o.status or s.total <> o.total
           or s.customer_id <> o.customer_id`,
    ),
    userBalance: await count(rt, `select count(*) from ${rm}.user_balance`),
    orderSearch: await count(rt, `select count(*) from ${rm}.order_search`),
    searchHitsDhl: await count(
      rt,
      `select count(*) from ${rm}.order_search where doc @@ to_tsquery('simple', 'dhl')`,
    ),
    paidOrders: paid.length,
    ordersWithoutReceipt: paid.filter((o) => mail.receiptsFor(o.id) === 0).length,
  };
}

/** Customers whose user_balance disagrees with what the orders table says they paid and were refunded. */
export function wrongBalances(rt: Runtime): Promise<number> {
  const rm = rt.rm;
  return count(
    rt,
    `select count(*) from (
       select customer_id, sum(total) as paid, sum(refunded) as refunded
         from ${rm}.orders where status <> 'created' group by customer_id) o
     full join ${rm}.user_balance b using (customer_id)
     where b.customer_id is null or o.customer_id is null or b.paid <> o.paid or b.refunded <> o.refunded`,
  );
}
