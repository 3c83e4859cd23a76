/**
 * `npm run demo` end to end: the demo runs as a child process, exits 0, and the figures of its summary prove the
 * story: every appended event published and applied, receipts once per paid order (counted by the mail service),
 * the poison payment parked and redriven, both drift checks passing, the log whole after the archive.
 * Serial: a run loads both cores for a minute.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { DemoSummary } from '../../examples/orders/summary.js';
import { exited, track } from '../support/processes.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, uniqueSchema } from '../support/stores.js';
import { scaled } from '../support/time.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function runDemo(env: Record<string, string>): Promise<{ code: number | null; summary: DemoSummary }> {
  const dir = await mkdtemp(join(tmpdir(), 'eventlane-demo-test-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'summary.json');
  const base = { ...process.env };
  delete base.DATABASE_URL;
  delete base.NATS_URL;
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', 'examples/orders/main.ts', '--json', file], {
      cwd: ROOT,
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await exited(child);
  expect(child.exitCode, `the demo failed:\n${out.slice(-4000)}`).toBe(0);
  const line = out.split('\n').find((l) => l.startsWith('DEMO-SUMMARY '));
  const fromFile: DemoSummary = JSON.parse(await readFile(file, 'utf8'));
  // The line on stdout and the --json file say the same.
  expect(line && JSON.parse(line.slice('DEMO-SUMMARY '.length))).toEqual(fromFile);
  return { code: child.exitCode, summary: fromFile };
}

function expectTheStory(s: DemoSummary): void {
  expect(s.failedChecks).toEqual([]);
  expect(s.ok).toBe(true);
  // Nothing lost: every appended event published, folded into the read models, and readable after the archive.
  expect(s.events.appended).toBe(s.orders.placed + s.orders.paid + s.orders.shipped + s.orders.refunded);
  expect(s.events.published).toBe(s.events.appended);
  expect(s.events.readBackAfterArchive).toBe(s.events.appended);
  expect(s.readModels.orderSummary).toBe(s.orders.placed);
  expect(s.readModels.orderSearch).toBe(s.orders.placed);
  expect(s.orders.legacyV1).toBeGreaterThan(0);
  // Receipts exactly once per paid order, as the mail service counted them, although responses were lost.
  expect(s.receipts.paidOrders).toBe(s.orders.paid);
  expect(s.receipts.sent).toBe(s.orders.paid);
  expect(s.receipts.ordersWithoutReceipt).toBe(0);
  expect(s.receipts.ordersReceiptedTwice).toBe(0);
  expect(s.receipts.lostResponses).toBeGreaterThan(0);
  expect(s.receipts.repeatsIgnored).toBeGreaterThanOrEqual(s.receipts.lostResponses);
  // Payments: failures retried, one capture per paid order, one refund per refunded order.
  expect(s.payments.failuresRetried).toBeGreaterThan(0);
  expect(s.payments.captured).toBe(s.orders.paid);
  expect(s.payments.refunded).toBe(s.orders.refunded);
  // The poison payment: parked, redriven through the admin API, its stream's refund applied after it.
  expect(s.parked).toEqual({ parked: 1, redriven: 1, leftParked: 0, streamFollowed: true });
  // Duplicates delivered again are recognised, each one.
  expect(s.redelivery.delivered).toBe(s.events.appended);
  expect(s.redelivery.alreadyApplied).toBe(s.events.appended);
  // The consumers fell behind under the load and caught up.
  expect(s.lag.maxEventsBehind).toBeGreaterThan(0);
  // The bug was there, and the backfill fixed it.
  expect(s.backfill.balancesWrongBefore).toBeGreaterThan(0);
  expect(s.backfill.reprocessed).toBe(s.orders.refunded);
  expect(s.backfill.balancesWrongAfter).toBe(0);
  expect(s.rebuild).toEqual({ version: 2, driftOk: true, rows: s.orders.placed });
  // The dry run would send every receipt again, finds each in the journal, and sends none.
  expect(s.dryRun).toEqual({
    wouldSend: s.orders.paid,
    alreadyPerformed: s.orders.paid,
    sentDuringDryRun: 0,
  });
  expect(s.archive.archived).toBe(Math.floor(s.events.appended / 2));
  expect(s.archive.segments).toBeGreaterThan(0);
  expect(s.archive.rebuildRows).toBe(s.orders.placed);
  expect(s.archive.driftOk).toBe(true);
}

describe('the orders demo', () => {
  it(
    'npm run demo on the embedded store: exits 0 and its summary holds',
    async () => {
      const { code, summary } = await runDemo({});
      expect(code).toBe(0);
      expect(summary.store).toBe('pglite');
      expect(summary.transport).toBe('log');
      expectTheStory(summary);
      console.log(
        `[demo] embedded: ${summary.orders.placed} orders, ${summary.events.appended} events in ${summary.seconds} s`,
      );
    },
    scaled(300_000),
  );

  const services = inject('services');
  const both = services.postgres && services.nats;
  if (!both) {
    console.warn(
      `[demo] skipping the PostgreSQL + NATS run: ${SERVICES.postgres.url} or ${SERVICES.nats.url} is unreachable`,
    );
  }
  it.skipIf(!both)(
    'on PostgreSQL with the relay to NATS JetStream and a bus-mode worker: exits 0 and its summary holds',
    async () => {
      const schema = uniqueSchema();
      cleanups.push(() => dropSchema(schema));
      const { code, summary } = await runDemo({
        DATABASE_URL: SERVICES.postgres.url,
        NATS_URL: SERVICES.nats.url,
        DEMO_SCHEMA: schema,
      });
      expect(code).toBe(0);
      expect(summary.store).toBe('pg');
      expect(summary.transport).toBe('nats');
      expectTheStory(summary);
      console.log(
        `[demo] pg + nats: ${summary.orders.placed} orders, ${summary.events.appended} events in ${summary.seconds} s`,
      );
    },
    scaled(300_000),
  );
});
