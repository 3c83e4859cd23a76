/**
 * The eventlane demo: an orders service under load, its read models and reactors, and what operators do with them.
 *
 * npm run demo                                   embedded store (PGlite, in memory): nothing to install
 * npm run demo -- --serve                        then keep the dashboard running (Ctrl-C stops it)
 * npm run demo -- --json summary.json            also write the summary as JSON
 * DATABASE_URL=postgres://… [NATS_URL=nats://…] npm run demo
 *                                                PostgreSQL (schema DEMO_SCHEMA, default orders_demo, reset on
 *                                                each run); with NATS_URL the worker consumes through NATS JetStream
 */
import { randomBytes } from 'node:crypto';
import { rm as removeDir, writeFile } from 'node:fs/promises';
import { type Worker } from '../../src/index.js';
import { startOpsServer } from '../../src/ops/index.js';
import { quoteIdent } from '../../src/store/names.js';
import { placeOrders } from './load.js';
import { startMailService } from './mail-service.js';
import { PaymentGateway } from './payments.js';
import { startRuntime, type Runtime } from './runtime.js';
import { createTables, openStore, readConfig } from './setup.js';
import { redriveParked } from './operator.js';
import { afterTheLoad } from './story.js';
import { elapsed, lagLine, progress, sampleLag, say, type DemoSummary } from './summary.js';
import { countRows, waitCaughtUp, waitFor } from './checks.js';

const config = readConfig(process.argv.slice(2), process.env);
const started = Date.now();
const store = await openStore(config);
const rm = quoteIdent(config.schema);
await createTables(store, rm);
const mail = await startMailService({ loseEvery: 40 });
const gateway = new PaymentGateway(15, ['mallory']);
const rt: Runtime = await startRuntime(store, config, rm, mail.url, gateway);
say(
  `eventlane demo on ${store.driver === 'pglite' ? 'the embedded store (PGlite, in memory)' : `PostgreSQL (schema ${config.schema})`}` +
    `, consumers reading ${rt.transport === 'nats' ? 'NATS JetStream through the relay' : 'the log'}`,
);
say(`mail service on ${mail.url}; ${config.writers} writers place ${config.orders} orders\n`);

// 1. Load: concurrent writers, a worker crash half-way, lost mail responses, flaky payments, one poison payment.
let worker: Worker = await rt.deploy({ summary: 1, balanceWithRefunds: false }, 'worker-a', true);
const lag = sampleLag(async () => {
  const health = await worker.health();
  const relay = await rt.relay.stats();
  const slowest = health.reduce((a, b) => (b.eventsBehind > a.eventsBehind ? b : a));
  return { eventsBehind: slowest.eventsBehind, slowest: slowest.consumer, unpublished: relay.backlogEvents };
});
let crash: Promise<void> | undefined;
const bar = progress('placing orders', config.orders, 'orders');
const load = await placeOrders(store, rm, {
  orders: config.orders,
  writers: config.writers,
  poisonCustomer: 'mallory',
  onOrder: (placed) => {
    bar.update(placed);
    if (placed === Math.floor(config.orders * 0.4) && crash === undefined) {
      // worker-a dies mid-run: its lanes in flight are abandoned, its leases left to expire. worker-b takes over.
      crash = (async () => {
        // Once it holds its partitions, so that the crash interrupts work rather than its start.
        await waitFor('worker-a to hold its partitions', () =>
          Promise.resolve(worker.partitions().length > 0),
        );
        await worker.stop();
        worker = await rt.deploy({ summary: 1, balanceWithRefunds: false }, 'worker-b');
      })();
    }
  },
});
bar.stop();
await crash;
say(
  `placed ${load.placed} orders in ${elapsed()}: ${load.paid} paid, ${load.shipped} shipped, ${load.refunded} refunded, ` +
    `${load.legacyV1} written as order.created v1 by an older producer`,
);
say('worker-a crashed at 40 % of the orders; worker-b took its partitions over when the leases expired');

// 2. The poison payment is parked; the operator fixes the gateway and retries it through the admin API.
const parked = await redriveParked(rt, worker, load.poisonOrder);
await waitCaughtUp(rt, worker, 'every consumer caught up');
const samples = await lag.stop();
say(`lag over time (most events behind, per second): ${lagLine(samples)}`);

const figures = await countRows(rt, mail);
say(
  `events appended ${figures.appended}, published by the relay ${figures.published}; ` +
    `order_summary ${figures.orderSummary} rows, user_balance ${figures.userBalance}, order_search ${figures.orderSearch} ` +
    `(${figures.searchHitsDhl} match "dhl")`,
);
const ms = mail.stats();
say(
  `receipts: ${ms.sent} sent for ${figures.paidOrders} paid orders (${figures.ordersWithoutReceipt} without, ` +
    `${ms.ordersReceiptedTwice} twice); ${ms.lostResponses} responses lost and ${ms.repeats} repeats ignored by key`,
);
const health = await worker.health();
const duplicates = health.reduce((n, h) => n + h.duplicates, 0);

// 3. What operators do next: fix and backfill, rebuild blue/green, dry-run a reactor, archive.
const story = await afterTheLoad(rt, worker, mail, figures);
worker = story.worker;

const checks: [string, boolean][] = [
  ['every appended event published', figures.published >= figures.appended],
  ['one order_summary row per order', figures.orderSummary === load.placed],
  ['order_summary matches the orders table', figures.summaryMismatches === 0],
  ['one order_search row per order', figures.orderSearch === load.placed],
  ['one receipt per paid order', ms.sent === figures.paidOrders && figures.ordersWithoutReceipt === 0],
  ['no order receipted twice', ms.ordersReceiptedTwice === 0],
  ['one capture per paid order', gateway.captured.size === figures.paidOrders],
  ['one refund per refunded order', gateway.refunded.size === load.refunded],
  [
    'the poison event was parked and redriven',
    parked.parked === 1 && parked.redriven === 1 && parked.left === 0,
  ],
  ['balances right after the backfill', story.backfill.balancesWrongAfter === 0],
  ['the bug was visible before the fix', story.backfill.balancesWrongBefore > 0],
  ['drift check of the blue/green rebuild', story.rebuild.driftOk],
  ['the dry run sent nothing', story.dryRun.sentDuringDryRun === 0],
  ['the dry run would skip every receipt', story.dryRun.alreadyPerformed === story.dryRun.wouldSend],
  ['the rebuild after the archive saw every order', story.archive.rebuildRows === load.placed],
  ['drift check after the archive', story.archive.driftOk],
  ['the log reads back whole through the archive', story.readBackAfterArchive === figures.appended],
];
const failed = checks.filter(([, ok]) => !ok).map(([name]) => name);
const summary: DemoSummary = {
  ok: failed.length === 0,
  failedChecks: failed,
  store: store.driver,
  transport: rt.transport,
  seconds: Math.round((Date.now() - started) / 100) / 10,
  orders: {
    placed: load.placed,
    paid: load.paid,
    shipped: load.shipped,
    refunded: load.refunded,
    legacyV1: load.legacyV1,
  },
  events: {
    appended: figures.appended,
    published: figures.published,
    appliedBySummary: figures.orderSummary,
    readBackAfterArchive: story.readBackAfterArchive,
  },
  readModels: {
    orderSummary: figures.orderSummary,
    userBalance: figures.userBalance,
    orderSearch: figures.orderSearch,
    searchHitsDhl: figures.searchHitsDhl,
  },
  receipts: {
    paidOrders: figures.paidOrders,
    sent: ms.sent,
    ordersWithoutReceipt: figures.ordersWithoutReceipt,
    ordersReceiptedTwice: ms.ordersReceiptedTwice,
    repeatsIgnored: ms.repeats,
    lostResponses: ms.lostResponses,
  },
  payments: {
    captured: gateway.captured.size,
    refunded: gateway.refunded.size,
    failuresRetried: gateway.failures,
    repeatsIgnored: gateway.repeats,
  },
  crash: { abandonedWorker: 'worker-a', takenOverBy: 'worker-b', duplicatesSkipped: duplicates },
  redelivery: story.redelivery,
  lag: {
    maxEventsBehind: Math.max(0, ...samples.map((s) => s.eventsBehind)),
    samples: samples.length,
    perSecond: lagLine(samples),
  },
  parked: {
    parked: parked.parked,
    redriven: parked.redriven,
    leftParked: parked.left,
    streamFollowed: parked.followed,
  },
  backfill: story.backfill,
  rebuild: story.rebuild,
  dryRun: story.dryRun,
  archive: story.archive,
};
say(`\n${failed.length === 0 ? 'every check passed' : `FAILED: ${failed.join('; ')}`} (${elapsed()})`);
say(`DEMO-SUMMARY ${JSON.stringify(summary)}`);
if (config.json !== undefined) await writeFile(config.json, `${JSON.stringify(summary, null, 2)}\n`);

if (config.serve) {
  const token = randomBytes(16).toString('hex');
  const ops = await startOpsServer({
    store,
    token,
    port: 0,
    registries: [worker.metrics],
    consumers: rt.consumers({ summary: 3, balanceWithRefunds: true }),
  });
  say(`\ndashboard: ${ops.url}/  admin token: ${token}   (Ctrl-C stops it)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await ops.close();
}
await worker.stop();
await rt.close();
await mail.close();
await store.close();
await removeDir(story.archiveDir, { recursive: true, force: true });
// Exit explicitly: lanes of the crashed worker-a that its abandoning stop() never told to stop keep sleeping in
// this process (a real crash would have ended them with the process).
process.exit(failed.length === 0 ? 0 : 1);
