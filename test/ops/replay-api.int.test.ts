import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReplay, defineReactor, type EventStore } from '../../src/index.js';
import { listAudit, startOpsServer, type OpsServer } from '../../src/ops/index.js';
import { pgAvailable } from '../support/stores.js';
import { tallyProjection, tallySum } from './seed.js';
import { appendOrders, closeStore, jobRows, openStore, settle, waitFor } from '../replay/helpers.js';

const TOKEN = 'replay-api-token-0123456789abcdef';

const mailer = defineReactor({
  name: 'mailer',
  handlers: {
    'order.paid': async (_e, { effect }) => {
      await effect('mail', () => Promise.resolve('sent'));
    },
  },
});

describe.skipIf(!pgAvailable())('replay jobs through the admin API (PostgreSQL)', () => {
  let store: EventStore;
  let server: OpsServer;
  let strict: OpsServer;

  beforeAll(async () => {
    store = await openStore();
    await appendOrders(store, 60, 4, 10);
    await settle(store);
    const consumers = [await tallyProjection(store), mailer];
    server = await startOpsServer({ store, token: TOKEN, port: 0, registries: [new Registry()], consumers });
    strict = await startOpsServer({
      store,
      token: TOKEN,
      port: 0,
      registries: [new Registry()],
      replay: createReplay(store, { consumers, previewThreshold: 5 }),
    });
  });
  afterAll(async () => {
    await server?.close();
    await strict?.close();
    if (store) await closeStore(store);
  });

  const call = async (s: OpsServer, path: string, body?: unknown, token: string | null = TOKEN) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${s.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies of many shapes
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };

  it('plans a backfill, starts it with the token, and shows it completed; the start is audited', async () => {
    const options = { kind: 'backfill', consumer: 'tally', types: ['order.paid'] };
    const plan = await call(server, '/api/replay/plan', options);
    expect(plan.status).toBe(200);
    expect(plan.json).toMatchObject({ events: 54, byType: { 'order.paid': 54 }, touches: ['tally'] });
    const started = await call(server, '/api/replay/start', {
      ...options,
      previewToken: plan.json.previewToken,
    });
    expect(started.status).toBe(200);
    const id = started.json.id as string;
    await waitFor(
      'the job completed',
      async () => (await call(server, `/api/replay/${id}`)).json.state === 'completed',
    );
    const job = (await call(server, `/api/replay/${id}`)).json;
    expect(job).toMatchObject({ done: 54, total: 54, applied: 54, etaMs: 0 });
    expect(await tallySum(store)).toBe(54);
    const listed = await call(server, '/api/replay?state=completed');
    expect(listed.json.map((j: { id: string }) => j.id)).toContain(id);
    expect((await call(server, '/api/replay?state=running')).json).toEqual([]);
    const audit = await listAudit(store);
    expect(audit.find((a) => a.action === 'replay.start')).toMatchObject({
      actor: 'admin',
      target: 'consumer:tally',
      outcome: 'ok',
      details: { kind: 'backfill', consumer: 'tally', previewed: true },
    });
  });

  it('pauses, re-rates, resumes and cancels a throttled dry run, each action audited', async () => {
    const started = await call(server, '/api/replay/start', {
      kind: 'dry-run',
      consumer: 'mailer',
      maxEventsPerSecond: 20,
    });
    expect(started.status).toBe(200);
    const id = started.json.id as string;
    const get = async () => (await call(server, `/api/replay/${id}`)).json;
    await waitFor('a page done', async () => (await get()).done > 0);
    expect((await call(server, `/api/replay/${id}/pause`, {})).json.state).toBe('paused');
    await waitFor('the run stopped', async () => (await get()).state === 'paused');
    const doneAtPause = (await get()).done as number;
    expect(doneAtPause).toBeLessThan(60);
    expect((await call(server, `/api/replay/${id}/rate`, { maxEventsPerSecond: 10 })).json).toMatchObject({
      maxEventsPerSecond: 10,
    });
    expect((await call(server, `/api/replay/${id}/resume`, {})).json.state).toBe('running');
    await waitFor('more done', async () => (await get()).done > doneAtPause);
    expect((await call(server, `/api/replay/${id}/cancel`, {})).json.state).toBe('cancelled');
    const cancelled = await call(server, `/api/replay/${id}/pause`, {});
    expect(cancelled.status).toBe(409);
    expect(cancelled.json.error.code).toBe('EVENTLANE_REPLAY_JOB_STATE');
    const actions = (await listAudit(store))
      .filter((a) => a.target === `replay:${id}`)
      .map((a) => `${a.action} ${a.outcome}`)
      .reverse();
    expect(actions).toEqual([
      'replay.pause ok',
      'replay.rate ok',
      'replay.resume ok',
      'replay.cancel ok',
      'replay.pause failed',
    ]);
  });

  it('needs the preview token over the threshold, and a matching one', async () => {
    const options = { kind: 'backfill', consumer: 'tally' };
    const before = await jobRows(store);
    const refused = await call(strict, '/api/replay/start', options);
    expect(refused.status).toBe(400);
    expect(refused.json.error.code).toBe('EVENTLANE_REPLAY_PREVIEW_REQUIRED');
    const plan = await call(strict, '/api/replay/plan', { ...options, types: ['order.refunded'] });
    const mismatch = await call(strict, '/api/replay/start', {
      ...options,
      previewToken: plan.json.previewToken,
    });
    expect(mismatch.json.error.code).toBe('EVENTLANE_REPLAY_PREVIEW_MISMATCH');
    expect(await jobRows(store)).toBe(before);
    const denied = await call(strict, '/api/replay/start', options, null);
    expect(denied.status).toBe(401);
  });

  it('answers hostile input with 4xx JSON, the engine’s typed codes, and no job row', async () => {
    const before = await jobRows(store);
    const cases: [string, unknown, number, string][] = [
      ['/api/replay/plan', { kind: 'backfill', consumer: 'nobody' }, 404, 'EVENTLANE_UNKNOWN_CONSUMER'],
      ['/api/replay/start', { kind: 'backfill', consumer: 'nobody' }, 404, 'EVENTLANE_UNKNOWN_CONSUMER'],
      ['/api/replay/plan', { kind: 'explode', consumer: 'tally' }, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/replay/plan', { kind: 'backfill', consumer: 'mailer' }, 400, 'EVENTLANE_REPLAY_MODE'],
      ['/api/replay/start', { kind: 'reactor-replay', consumer: 'mailer' }, 400, 'EVENTLANE_REPLAY_MODE'],
      [
        '/api/replay/plan',
        { kind: 'backfill', consumer: 'tally', from: '9:9', to: '1:1' },
        400,
        'EVENTLANE_REPLAY_RANGE',
      ],
      [
        '/api/replay/plan',
        { kind: 'backfill', consumer: 'tally', from: 'yesterday' },
        400,
        'EVENTLANE_REPLAY_RANGE',
      ],
      [
        '/api/replay/plan',
        { kind: 'backfill', consumer: 'tally', from: '2026-13-45T00:00:00Z' },
        400,
        'EVENTLANE_REPLAY_RANGE',
      ],
      [
        '/api/replay/start',
        { kind: 'backfill', consumer: 'tally', maxEventsPerSecond: -1 },
        400,
        'EVENTLANE_INVALID_ARGUMENT',
      ],
      [
        '/api/replay/start',
        { kind: 'backfill', consumer: 'tally', maxEventsPerSecond: '5' },
        400,
        'EVENTLANE_INVALID_ARGUMENT',
      ],
      [
        '/api/replay/start',
        { kind: 'backfill', consumer: 'tally', types: ['<script>'] },
        400,
        'EVENTLANE_INVALID_ARGUMENT',
      ],
      [
        '/api/replay/start',
        { kind: 'backfill', consumer: 'tally', sql: 'drop' },
        400,
        'EVENTLANE_INVALID_ARGUMENT',
      ],
      [
        '/api/replay/start',
        { kind: 'backfill', consumer: 'tally', previewToken: 42 },
        400,
        'EVENTLANE_REPLAY_PREVIEW_MISMATCH',
      ],
      [
        '/api/replay/start',
        { kind: 'backfill', consumer: 'tally', detached: 'yes' },
        400,
        'EVENTLANE_INVALID_ARGUMENT',
      ],
      ['/api/replay/start', '{"kind":', 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/replay/start', '[1,2]', 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/replay?state=nope', undefined, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/replay?limit=0', undefined, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/replay/no-such-job', undefined, 404, 'EVENTLANE_REPLAY_JOB_NOT_FOUND'],
      [`/api/replay/${'x'.repeat(500)}`, undefined, 404, 'EVENTLANE_REPLAY_JOB_NOT_FOUND'],
      ['/api/replay/no-such-job/pause', {}, 404, 'EVENTLANE_REPLAY_JOB_NOT_FOUND'],
      ['/api/replay/no-such-job/resume', {}, 404, 'EVENTLANE_REPLAY_JOB_NOT_FOUND'],
      ['/api/replay/no-such-job/cancel', {}, 404, 'EVENTLANE_REPLAY_JOB_NOT_FOUND'],
      ['/api/replay/no-such-job/rate', { maxEventsPerSecond: 5 }, 404, 'EVENTLANE_REPLAY_JOB_NOT_FOUND'],
      ['/api/replay/no-such-job/rate', {}, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/replay/no-such-job/rate', { maxEventsPerSecond: 0 }, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/replay/no-such-job/resume', { takeOver: 'please' }, 400, 'EVENTLANE_INVALID_ARGUMENT'],
    ];
    for (const [path, body, status, code] of cases) {
      const res = await call(server, path, body);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(status);
      expect(res.json.error.code, `${path} ${JSON.stringify(body)}`).toBe(code);
    }
    expect(await jobRows(store)).toBe(before);
  });
});
