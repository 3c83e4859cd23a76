// The dashboard in headless Chromium (Debian's `chromium`, driven by playwright-core) against a real store, a real
// worker and `startOpsServer`: sign-in, lag falling as a worker catches up, retry of a parked event until it drains,
// a stream's history, and event data holding HTML and script that stays inert. Screenshots go to
// test-results/screenshots/.

import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker, defineEvent, defineProjection, type EventStore } from '../../src/index.js';
import { z } from 'zod';
import { listAudit, listParked, type OpsServer } from '../../src/ops/index.js';
import { openPgStore, waitFor } from '../consumers/helpers.js';
import { dropSchema, pgAvailable } from '../support/stores.js';
import { startTestServer } from './seed.js';
import { scaled } from '../support/time.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
];
const SHOTS = 'test-results/screenshots';
const TOKEN = 'dashboard-token-0123456789abcdef';
const XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2; alert(2)">';

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && !process.env.CI) {
  console.warn(
    `dashboard e2e tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium). With CI=true they fail instead.`,
  );
}

describe.skipIf(!pgAvailable() || (!haveChromium && !process.env.CI))('dashboard in Chromium', () => {
  let store: EventStore;
  let server: OpsServer;
  let browser: Browser;
  let page: Page;
  let worker: { stop(): Promise<void> } | undefined;
  let openGate: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  let broken = true;
  const dialogs: string[] = [];
  const pageErrors: string[] = [];

  const mailer = defineProjection({
    name: 'mailer',
    handlers: {
      'mail.queued': async (e) => {
        if ((e.data as { poison?: boolean }).poison) {
          if (broken) throw new Error('the mail server refused <b>this</b> message');
          return;
        }
        await gate;
        await new Promise((resolve) => setTimeout(resolve, 150));
      },
    },
  });

  const MailQueued = defineEvent({
    type: 'mail.queued',
    owner: 'mail',
    producers: ['signup'],
    versions: { 1: z.object({ n: z.number().optional(), note: z.string().optional() }) },
  });

  const shot = (name: string) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
  const signIn = async (p: Page, token: string) => {
    await p.goto(server.url);
    await p.fill('#token', token);
    await p.click('#login button[type=submit]');
  };

  beforeAll(async () => {
    if (!haveChromium) {
      throw new Error(
        `${CHROMIUM} is missing: CI must install Debian's chromium (scripts/services.sh does).`,
      );
    }
    mkdirSync(SHOTS, { recursive: true });
    store = await openPgStore();
    server = await startTestServer(store, TOKEN, { contracts: [MailQueued], consumers: [mailer] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });

  afterAll(async () => {
    openGate();
    await worker?.stop();
    await browser?.close();
    await server?.close();
    if (store) {
      await store.close();
      await dropSchema(store.schema);
    }
  });

  it('shows the login error for a wrong token, and keeps the token out of the page', async () => {
    const other = await browser.newPage();
    await signIn(other, 'not-the-token-at-all-0000');
    await expect
      .poll(() => other.textContent('[data-testid=login-error]'), { timeout: scaled(10_000) })
      .toContain('EVENTLANE_UNAUTHORIZED');
    expect(await other.isVisible('#nav')).toBe(false);
    expect(await other.evaluate('sessionStorage.getItem("eventlane.token")')).toBeNull();
    await other.close();
  });

  it('shows a consumer behind, and its lag falling to 0 as the worker catches up', async () => {
    const w = createWorker(store, {
      from: 'log',
      consumers: [mailer],
      registry: new Registry(),
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      // Small batches: the lag recorded in the database falls with every commit, three events at a time.
      partitions: 1,
      batchSize: 3,
    });
    worker = w;
    await w.start();
    // The handler waits on the gate: 30 events of one stream stay behind until the test opens it, then take
    // 150 ms each (one stream is applied in order), longer than two updates of the page (every 2 s).
    await store.append(
      'mail-a',
      Array.from({ length: 30 }, (_, i) => ({ type: 'mail.queued', data: { n: i } })),
    );
    await signIn(page, TOKEN);
    await page.waitForSelector('[data-testid=attention]', { timeout: scaled(15_000) });
    await page.goto(`${server.url}/#/consumers`);
    const lagCell = '[data-consumer=mailer] [data-testid=lag-events]';
    const lag = async () => Number((await page.textContent(lagCell, { timeout: scaled(15_000) })) ?? NaN);
    await expect.poll(lag, { timeout: scaled(20_000) }).toBeGreaterThanOrEqual(20);
    const seen: number[] = [await lag()];
    openGate();
    await waitFor(
      'the dashboard to show mailer caught up',
      async () => {
        const n = await lag();
        if (n !== seen.at(-1)) seen.push(n);
        return n === 0;
      },
      30_000,
      100,
    );
    console.log('lag seen by the page:', seen.join(' → '));
    expect(seen[0]).toBeGreaterThanOrEqual(20);
    expect(seen.at(-1)).toBe(0);
    expect(
      seen.some((n) => n > 0 && n < seen[0]!),
      'the page showed the lag on its way down',
    ).toBe(true);
    // The worker's one partition and its owner.
    await page.click('[data-consumer=mailer] button:text("Partitions")');
    const partition = page.locator('[data-testid=partitions] tbody tr');
    await expect.poll(() => partition.count(), { timeout: scaled(10_000) }).toBe(1);
    expect(await partition.textContent()).toMatch(/^0/);
    expect(await partition.textContent()).not.toContain('nobody');
    await shot('consumers');
    // Every change the page showed was a fall.
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeLessThan(seen[i - 1]!);
  });

  it('retries a parked event from the dashboard and sees it drain, without running the HTML in its data', async () => {
    await store.append('mail-xss', [{ type: 'mail.queued', data: { poison: true, note: XSS } }]);
    await waitFor(
      'the poison event parked',
      async () => (await listParked(store, { status: ['parked'] })).length === 1,
    );
    await page.goto(`${server.url}/#/overview`);
    await expect
      .poll(() => page.textContent('[data-testid=attention]'), { timeout: scaled(15_000) })
      .toContain('mailer: 1 parked event');
    await shot('overview');

    await page.goto(`${server.url}/#/parked/mailer`);
    const row = page.locator('[data-testid=parked] tr[data-parked]');
    await expect.poll(() => row.count(), { timeout: scaled(15_000) }).toBe(1);
    expect(await row.textContent()).toContain('the mail server refused <b>this</b> message');
    await row.getByRole('button', { name: 'Show' }).click();
    const data = page.locator('[data-testid=parked-data]');
    await data.waitFor({ timeout: scaled(10_000) });
    expect(await data.textContent()).toContain('<script>window.__pwned = 1</script>');
    expect(await data.locator('script, img').count()).toBe(0);
    await shot('parked');

    broken = false;
    await row.getByRole('button', { name: 'Retry' }).click();
    await expect.poll(() => row.count(), { timeout: scaled(20_000) }).toBe(0);
    await waitFor(
      'the parked event resolved',
      async () => (await listParked(store, { status: ['parked', 'retrying'] })).length === 0,
    );
    const audit = await listAudit(store);
    expect(audit[0]).toEqual(
      expect.objectContaining({ actor: 'admin', action: 'parked.retry', outcome: 'ok' }),
    );
  });

  it('skips one parked event and retries the others in bulk from the dashboard', async () => {
    broken = true;
    for (const stream of ['bulk-1', 'bulk-2', 'bulk-3']) {
      await store.append(stream, [{ type: 'mail.queued', data: { poison: true, note: stream } }]);
    }
    await waitFor(
      'three events parked',
      async () => (await listParked(store, { status: ['parked'] })).length === 3,
    );
    await page.goto(`${server.url}/#/parked/mailer`);
    const rows = page.locator('[data-testid=parked] tr[data-parked]');
    await expect.poll(() => rows.count(), { timeout: scaled(15_000) }).toBe(3);
    const [skipped, ...rest] = await listParked(store, { status: ['parked'] });
    await page.locator(`tr[data-parked="${skipped!.id}"]`).getByRole('button', { name: 'Skip' }).click();
    await expect.poll(() => rows.count(), { timeout: scaled(15_000) }).toBe(2);
    broken = false;
    for (const r of rest) await page.check(`tr[data-parked="${r.id}"] input[type=checkbox]`);
    await page.click('button:text("Retry selected")');
    await expect.poll(() => rows.count(), { timeout: scaled(20_000) }).toBe(0);
    await waitFor(
      'the retried events resolved',
      async () => (await listParked(store, { status: ['parked', 'retrying'] })).length === 0,
    );
    const audit = (await listAudit(store)).slice(0, 3);
    expect(audit.map((a) => [a.action, a.target, a.outcome]).sort()).toEqual(
      [
        ['parked.skip', `parked:${skipped!.id}`, 'ok'],
        ...rest.map((r) => ['parked.retry', `parked:${r.id}`, 'ok']),
      ].sort(),
    );
  });

  it('finds a stream by prefix and opens its history with data and metadata, as text', async () => {
    await page.goto(`${server.url}/#/streams`);
    await page.fill('[aria-label="stream prefix"]', 'mail-x');
    await page.click('form[aria-label=Streams] button[type=submit]');
    await page.click('[data-testid=results] a:text("mail-xss")', { timeout: scaled(10_000) });
    const events = page.locator('[data-testid=history] article');
    await expect.poll(() => events.count(), { timeout: scaled(10_000) }).toBe(1);
    expect(await events.first().textContent()).toContain('mail.queued');
    expect(await events.first().locator('[data-testid=event-data]').textContent()).toContain(
      XSS.replace(/"/g, '\\"'),
    );
    await shot('stream');
  });

  it('finds an event by id, follows the live tail of the log, and shows the contracts', async () => {
    const [event] = await store.readStream('mail-xss');
    await page.goto(`${server.url}/#/streams`);
    await page.fill('[aria-label="event id"]', event!.id);
    await page.click('form[aria-label=Event] button[type=submit]');
    await page.waitForSelector(`[data-testid=results] article[data-event="${event!.id}"]`, {
      timeout: scaled(10_000),
    });

    await page.click('button:text("Start live tail")');
    const tail = page.locator('[data-testid=tail] article');
    // The tail starts at the head the server read when it answered: wait for that answer before appending.
    await page.waitForSelector('[data-testid=tail][data-state=live]', {
      state: 'attached',
      timeout: scaled(10_000),
    });
    await store.append('mail-tail', [{ type: 'mail.queued', data: { note: '<i>tailed</i>' } }]);
    await expect.poll(() => tail.count(), { timeout: scaled(15_000) }).toBe(1);
    expect(await tail.first().textContent()).toContain('<i>tailed</i>');
    await page.click('button:text("Stop live tail")');

    await page.goto(`${server.url}/#/contracts`);
    const row = page.locator('[data-testid=contracts] tbody tr');
    await expect.poll(() => row.count(), { timeout: scaled(10_000) }).toBe(1);
    const text = await row.textContent();
    for (const part of ['mail.queued', 'v1', 'mail', 'signup', 'mailer (projection)'])
      expect(text).toContain(part);
  });

  it('never ran script from event data: no flag set, no dialog, no page error', async () => {
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
