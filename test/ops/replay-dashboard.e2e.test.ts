// The dashboard's Replay view in headless Chromium against a real store and `startOpsServer`: plan a throttled
// backfill from the form, start it with the plan's token, watch its progress bar move, pause it, resume it and see
// it complete. Screenshots go to test-results/screenshots/.

import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/index.js';
import { listAudit, type OpsServer } from '../../src/ops/index.js';
import { pgAvailable } from '../support/stores.js';
import { scaled } from '../support/time.js';
import { appendOrders, closeStore, openStore, settle } from '../replay/helpers.js';
import { startTestServer, tallyProjection, tallySum } from './seed.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
const SHOTS = 'test-results/screenshots';
const TOKEN = 'replay-dashboard-token-0123456789';
const haveChromium = existsSync(CHROMIUM);

describe.skipIf(!pgAvailable() || (!haveChromium && !process.env.CI))('Replay view in Chromium', () => {
  let store: EventStore;
  let server: OpsServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!haveChromium) throw new Error(`${CHROMIUM} is missing: CI must install Debian's chromium.`);
    mkdirSync(SHOTS, { recursive: true });
    store = await openStore();
    // 60 events, every 10th an order.refunded: the backfill of order.paid covers 54.
    await appendOrders(store, 60, 4, 10);
    await settle(store);
    server = await startTestServer(store, TOKEN, { consumers: [await tallyProjection(store)] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (store) await closeStore(store);
  });

  const row = () => page.locator('[data-testid=replay-jobs] tr[data-job]').first();
  const progress = async () =>
    Number(await row().locator('[data-testid=job-progress]').getAttribute('value'));
  const state = () => row().getAttribute('data-state');
  const timeout = scaled(20_000);

  it('plans and starts a throttled backfill, pauses and resumes it, and sees it complete', async () => {
    await page.goto(server.url);
    await page.fill('#token', TOKEN);
    await page.click('#login button[type=submit]');
    await page.click('nav a[href="#/replay"]');
    const form = page.locator('[data-testid=replay-form]');
    await form.locator('select[name=kind]').selectOption('backfill');
    await form.locator('input[name=consumer]').fill('tally');
    await form.locator('input[name=types]').fill('order.paid');
    await form.locator('input[name=rate]').fill('8');
    await form.locator('button[type=submit]').click();
    await expect.poll(() => page.textContent('[data-testid=plan-events]'), { timeout }).toBe('54');
    expect(await page.textContent('[data-testid=plan-types]')).toContain('order.paid');
    // 54 events at 8 events/s.
    expect(await page.textContent('[data-testid=plan-duration]')).toBe('6.8 s');
    await page.screenshot({ path: `${SHOTS}/replay-plan.png`, fullPage: true });

    await page.click('[data-testid=start]');
    await expect.poll(state, { timeout }).toBe('running');
    await expect.poll(progress, { timeout }).toBeGreaterThan(0);
    const first = await progress();
    await expect.poll(progress, { timeout }).toBeGreaterThan(first);
    expect(await row().locator('[data-testid=job-eta]').textContent()).toMatch(/s$/);
    await page.screenshot({ path: `${SHOTS}/replay-running.png`, fullPage: true });

    await row().locator('[data-testid=pause]').click();
    await expect.poll(state, { timeout }).toBe('paused');
    // Paused: the bar stands still (after the page that was in flight).
    const held = await progress();
    await page.waitForTimeout(1500);
    const still = await progress();
    expect(still - held).toBeLessThanOrEqual(2);
    expect(still).toBeLessThan(54);

    await row().locator('[data-testid=resume]').click();
    await expect.poll(state, { timeout }).toBe('running');
    await expect.poll(state, { timeout: scaled(30_000) }).toBe('completed');
    expect(await progress()).toBe(54);
    expect(await row().locator('[data-testid=job-done]').textContent()).toContain('54 / 54');

    expect(await tallySum(store)).toBe(54);
    const actions = (await listAudit(store)).map((a) => a.action).reverse();
    expect(actions).toEqual(['replay.start', 'replay.pause', 'replay.resume']);
    expect(pageErrors).toEqual([]);
  });

  it('shows a refused plan as its typed error, as text', async () => {
    const form = page.locator('[data-testid=replay-form]');
    await form.locator('input[name=consumer]').fill('<img src=x onerror=alert(1)>');
    await form.locator('button[type=submit]').click();
    const alert = page.locator('[data-testid=plan-result] [role=alert]');
    await expect.poll(() => alert.textContent(), { timeout }).toContain('EVENTLANE_UNKNOWN_CONSUMER');
    expect(await alert.locator('img').count()).toBe(0);
  });
});
