// What `serve` adds for the dashboard, over HTTP: the static files with their content policy and nothing else from
// disk, the server-sent events of /api/live behind the token, and the declared contracts at /api/contracts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineEvent, defineProjection, type EventStore } from '../../src/index.js';
import { type OpsServer } from '../../src/ops/index.js';
import { openPgStore } from '../consumers/helpers.js';
import { dropSchema, pgAvailable } from '../support/stores.js';
import { startTestServer } from './seed.js';
import { scaled } from '../support/time.js';

const TOKEN = 'dashboard-int-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

const Queued = defineEvent({
  type: 'mail.queued',
  owner: 'mail',
  producers: ['signup'],
  versions: { 1: z.object({ to: z.string() }), 2: z.object({ to: z.string(), subject: z.string() }) },
  upcast: { 1: (d) => ({ ...d, subject: '' }) },
});
const sender = defineProjection({ name: 'sender', handlers: { 'mail.queued': async () => {} } });

/** Reads server-sent events until `until` returns true for one; returns them all as {event, data}. */
async function readEvents(
  url: string,
  until: (e: { event: string; data: unknown }) => boolean,
): Promise<{ event: string; data: unknown }[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), scaled(15_000));
  const res = await fetch(url, { headers: auth, signal: abort.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const out: { event: string; data: unknown }[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
        const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null') as unknown;
        out.push({ event, data });
        if (until({ event, data })) return out;
      }
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return out;
}

describe.skipIf(!pgAvailable())('dashboard endpoints', () => {
  let store: EventStore;
  let server: OpsServer;

  beforeAll(async () => {
    store = await openPgStore();
    server = await startTestServer(store, TOKEN, { contracts: [Queued], consumers: [sender] });
  });
  afterAll(async () => {
    await server?.close();
    if (store) {
      await store.close();
      await dropSchema(store.schema);
    }
  });

  it('serves the dashboard with a strict content policy, and no other file', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/); // no inline script
    const app = await fetch(`${server.url}/dashboard/app.js`);
    expect([app.status, app.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
    for (const path of [
      '/dashboard/nope.js',
      '/dashboard/..%2Fhttp%2Fapp.ts',
      '/dashboard/%2e%2e/http/app.ts',
      '/dashboard/../../package.json',
      '/dashboard/App.js',
    ]) {
      expect([path, (await fetch(`${server.url}${path}`)).status]).toEqual([path, 404]);
    }
  });

  it('refuses /api/live without the right token, and a bad interval or tail', async () => {
    expect((await fetch(`${server.url}/api/live`)).status).toBe(401);
    const wrong = await fetch(`${server.url}/api/live`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    for (const q of ['interval=10', 'interval=abc', 'interval=99999999', 'tail=not-a-checkpoint']) {
      const res = await fetch(`${server.url}/api/live?${q}`, { headers: auth });
      const body = (await res.json()) as { error: { code: string } };
      expect([q, res.status, body.error.code]).toEqual([
        q,
        400,
        q.startsWith('tail') ? 'EVENTLANE_INVALID_CHECKPOINT' : 'EVENTLANE_INVALID_ARGUMENT',
      ]);
    }
  });

  it('sends overviews, and the new events of the log with tail=head', async () => {
    const seen = readEvents(`${server.url}/api/live?interval=500&tail=head`, (e) => e.event === 'log');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await store.append('mail-1', [Queued.create({ to: 'a@example.com', subject: '<b>hi</b>' })]);
    const events = await seen;
    const overview = events.find((e) => e.event === 'overview')?.data as { schema: string };
    expect(overview.schema).toBe(store.schema);
    const log = events.at(-1)!.data as { events: { stream: string; data: unknown }[]; checkpoint: string };
    expect(log.events.map((e) => e.stream)).toEqual(['mail-1']);
    expect(log.events[0]!.data).toEqual({ to: 'a@example.com', subject: '<b>hi</b>' });
  });

  it('lists the declared contracts with versions, schemas, owner, producers and consumers', async () => {
    const res = await fetch(`${server.url}/api/contracts`, { headers: auth });
    expect(res.status).toBe(200);
    const [c] = (await res.json()) as Record<string, unknown>[];
    expect(c).toMatchObject({
      type: 'mail.queued',
      owner: 'mail',
      currentVersion: 2,
      producers: ['signup'],
      consumers: [{ name: 'sender', kind: 'projection' }],
    });
    const versions = c!.versions as { version: number; schema: { properties?: object } }[];
    expect(versions.map((v) => v.version)).toEqual([1, 2]);
    expect(Object.keys(versions[1]!.schema.properties ?? {})).toEqual(['to', 'subject']);
    expect((await fetch(`${server.url}/api/contracts`)).status).toBe(401);
  });

  it('refuses the partitions of an unknown consumer with a 404 naming it', async () => {
    const res = await fetch(`${server.url}/api/consumers/nobody/partitions`, { headers: auth });
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect([res.status, body.error.code]).toEqual([404, 'EVENTLANE_UNKNOWN_CONSUMER']);
    expect(body.error.message).toContain('nobody');
    expect((await fetch(`${server.url}/api/consumers/nobody/partitions`)).status).toBe(401);
  });
});
