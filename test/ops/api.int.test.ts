import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/ops/http/app.js';
import {
  createOpsHandler,
  listAudit,
  openApiDocument,
  startOpsServer,
  type OpsServer,
} from '../../src/ops/index.js';
import { pgAvailable } from '../support/stores.js';
import { seedStore, type Seeded } from './seed.js';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef-longer';

describe.skipIf(!pgAvailable())('admin API (PostgreSQL)', () => {
  let seeded: Seeded;
  let server: OpsServer;
  let open: OpsServer;
  let redacted: OpsServer;

  beforeAll(async () => {
    seeded = await seedStore({ projection: true });
    const common = { store: seeded.store, registries: [new Registry()] };
    server = await startOpsServer({ ...common, port: 0, token: { alice: ALICE, bob: BOB } });
    open = await startOpsServer({
      ...common,
      registries: [new Registry()],
      port: 0,
      token: ALICE,
      openReads: true,
    });
    redacted = await startOpsServer({
      ...common,
      registries: [new Registry()],
      port: 0,
      token: ALICE,
      redactEventData: true,
    });
  });
  afterAll(async () => {
    await server?.close();
    await open?.close();
    await redacted?.close();
    await seeded?.cleanup();
  });

  const call = async (
    s: OpsServer,
    path: string,
    init: { method?: string; token?: string | null; body?: string; auth?: string } = {},
  ) => {
    const headers: Record<string, string> = {};
    if (init.auth !== undefined) headers.authorization = init.auth;
    else if (init.token !== null) headers.authorization = `Bearer ${init.token ?? ALICE}`;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${s.url}${path}`, { method: init.method ?? 'GET', headers, body: init.body });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return {
      status: res.status,
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies of many shapes
      json: json as Record<string, any>,
      text,
      type: res.headers.get('content-type'),
    };
  };

  it('binds to 127.0.0.1 by default', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('refuses a missing or wrong token with 401 before routing, even on paths that do not exist', async () => {
    for (const path of ['/api/overview', '/api/no-such-route', '/api/parked/1/retry']) {
      for (const auth of [
        undefined,
        'Bearer wrong',
        `Bearer ${ALICE}x`,
        ALICE,
        'Basic abc',
        `Bearer ${'a'.repeat(5000)}`,
      ]) {
        const res = await call(server, path, auth === undefined ? { token: null } : { auth });
        expect(res.status, `${path} ${auth?.slice(0, 20)}`).toBe(401);
        expect(res.json.error.code).toBe('EVENTLANE_UNAUTHORIZED');
      }
    }
    // Spellings of an API path never reach its data without the token.
    for (const path of [
      '/%61pi/overview',
      '/api/%6fverview',
      '/api/./overview',
      '/API/overview',
      '//api/overview',
    ]) {
      const res = await call(server, path, { token: null });
      expect([path, res.status === 401 || res.status === 404]).toEqual([path, true]);
      expect(res.text).not.toContain('consumers');
    }
    expect((await call(server, '/api/no-such-route')).status).toBe(404);
    expect((await call(server, '/api/overview', { token: BOB })).status).toBe(200);
  });

  it('keeps reads closed by default; openReads opens GETs only, and still refuses a wrong token', async () => {
    expect((await call(server, '/api/consumers', { token: null })).status).toBe(401);
    expect((await call(open, '/api/consumers', { token: null })).status).toBe(200);
    expect((await call(open, '/api/consumers', { auth: 'Bearer nope' })).status).toBe(401);
    const before = (await listAudit(seeded.store)).length;
    const res = await call(open, `/api/parked/${seeded.truth.parkedId}/retry`, {
      method: 'POST',
      token: null,
    });
    expect(res.status).toBe(401);
    expect((await listAudit(seeded.store)).length).toBe(before);
  });

  it('reports the overview of a store with a consumer behind, parked events and a relay backlog', async () => {
    const { json, status } = await call(server, '/api/overview');
    expect(status).toBe(200);
    expect(json.consumers).toEqual([
      expect.objectContaining({ name: 'totals', eventsBehind: 21, parked: 1, workers: 0 }),
    ]);
    expect(json.relays).toEqual([
      expect.objectContaining({ name: 'main', backlogEvents: 20, leased: false }),
    ]);
    expect(json.projections).toEqual([
      expect.objectContaining({
        name: 'summary',
        version: 1,
        failure: expect.objectContaining({ status: 'parked' }),
      }),
    ]);
    expect(json.parked).toEqual({ consumers: 1, projections: 1, relays: 0 });
    // Positions are taken at insert and the head is the last event in commit order: compare checkpoints.
    expect(json.head.checkpoint).toBe(seeded.truth.head);
    expect((await call(server, '/api/consumers/totals')).json).toMatchObject({
      name: 'totals',
      eventsBehind: 21,
    });
  });

  it('lists and shows parked events with their error and data as data; redacts data when configured', async () => {
    const list = await call(server, '/api/parked?consumer=totals');
    expect(list.json).toEqual([
      expect.objectContaining({ id: seeded.truth.parkedId, stream: 'bad', attempts: 1 }),
    ]);
    const shown = await call(server, `/api/parked/${seeded.truth.parkedId}`);
    expect(shown.json.data).toEqual({ amount: 1, note: '<img src=x onerror=alert(1)>' });
    expect(shown.json.error).toContain('<script>');
    expect(shown.type).toContain('application/json');
    const hidden = await call(redacted, `/api/parked/${seeded.truth.parkedId}`);
    expect(hidden.json.data).toBe('[redacted]');
    expect(hidden.json.metadata).toBe('[redacted]');
    expect(hidden.text).not.toContain('onerror');
  });

  it('reads a stream, finds an event by id and events by type and time', async () => {
    const stream = await call(server, '/api/streams/bad');
    expect(stream.json).toHaveLength(1);
    const id = stream.json[0].id as string;
    expect((await call(server, `/api/events/${id}`)).json).toMatchObject({
      id,
      stream: 'bad',
      streamPosition: 1,
    });
    const streams = await call(server, '/api/streams?prefix=s');
    expect(streams.json.length).toBe(5);
    const byType = await call(server, `/api/events?type=item.added&from=2000-01-01T00:00:00Z&limit=1000`);
    expect(byType.json).toHaveLength(21);
    expect((await call(server, '/api/events?type=item.added&to=2000-01-01T00:00:00Z')).json).toHaveLength(0);
    const log = await call(server, '/api/log?limit=5');
    expect(log.json.events).toHaveLength(5);
    expect(typeof log.json.checkpoint).toBe('string');
  });

  it('answers hostile input with 4xx JSON errors and stable codes', async () => {
    const cases: [string, { method?: string; body?: string }, number, string][] = [
      ['/api/parked/abc', {}, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/parked/99999999999999999999', {}, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/parked/9223372036854775807', {}, 404, 'EVENTLANE_PARKED_EVENT_NOT_FOUND'],
      ['/api/parked?limit=100000000', {}, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/parked?limit=-1', {}, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/parked?status=nope', {}, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/consumers/nobody', {}, 404, 'EVENTLANE_UNKNOWN_CONSUMER'],
      ['/api/projections/nobody', {}, 404, 'EVENTLANE_UNKNOWN_CONSUMER'],
      ['/api/events/not-a-uuid', {}, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/events/00000000-0000-7000-8000-000000000000', {}, 404, 'EVENTLANE_NOT_FOUND'],
      ['/api/events?from=yesterday', {}, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/log?after=garbage', {}, 400, 'EVENTLANE_INVALID_CHECKPOINT'],
      ['/api/streams/bad?direction=sideways', {}, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/streams/bad?from=-3', {}, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      [
        `/api/parked/${seeded.truth.parkedId}/skip`,
        { method: 'POST', body: '{not json' },
        400,
        'EVENTLANE_INVALID_ARGUMENT',
      ],
      [
        `/api/parked/${seeded.truth.parkedId}/skip`,
        { method: 'POST', body: '[1,2]' },
        400,
        'EVENTLANE_INVALID_ARGUMENT',
      ],
      [
        `/api/parked/${seeded.truth.parkedId}/skip`,
        { method: 'POST', body: '{"reason": 5}' },
        400,
        'EVENTLANE_INVALID_ARGUMENT',
      ],
      ['/api/parked/skip', { method: 'POST', body: '{}' }, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/parked/retry', { method: 'POST', body: '{"ids": ["1", 2]}' }, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      [
        '/api/parked/retry',
        { method: 'POST', body: JSON.stringify({ ids: Array(2000).fill('1') }) },
        400,
        'EVENTLANE_INVALID_ARGUMENT',
      ],
      ['/api/relay-parked/xyz/retry', { method: 'POST' }, 400, 'EVENTLANE_INVALID_ARGUMENT'],
      ['/api/relay-parked/12345/retry', { method: 'POST' }, 404, 'EVENTLANE_RELAY_PARKED_NOT_FOUND'],
      ['/api/projections/nobody/retry', { method: 'POST' }, 404, 'EVENTLANE_UNKNOWN_CONSUMER'],
      [
        '/api/parked/retry',
        { method: 'POST', body: JSON.stringify({ reason: 'x'.repeat(100_000) }) },
        413,
        'EVENTLANE_INVALID_ARGUMENT',
      ],
    ];
    for (const [path, init, status, code] of cases) {
      const res = await call(server, path, init);
      expect([path, res.status, res.json?.error?.code]).toEqual([path, status, code]);
      expect(typeof res.json.error.message).toBe('string');
    }
    // Still up.
    expect((await call(server, '/healthz', { token: null })).status).toBe(200);
  });

  it('retries and skips (one, projection, bulk), each audited with who, what and outcome', async () => {
    const id = seeded.truth.parkedId;
    const retried = await call(server, `/api/parked/${id}/retry`, { method: 'POST', token: BOB });
    expect(retried.status).toBe(200);
    expect(retried.json).toMatchObject({ id, status: 'retrying', attempts: 0 });
    // Retrying a row that is no longer parked is refused, and the refusal is audited too.
    const again = await call(server, `/api/parked/${id}/retry`, { method: 'POST' });
    expect(again.json.error.code).toBe('EVENTLANE_PARKED_EVENT_NOT_FOUND');
    const skipped = await call(server, '/api/parked/skip', {
      method: 'POST',
      body: JSON.stringify({ ids: [id], reason: 'bad data' }),
    });
    expect(skipped.json).toMatchObject({
      done: [{ id, status: 'skipped', skippedBy: 'alice', skipReason: 'bad data' }],
      failed: [],
    });

    const retriedProjection = await call(server, '/api/projections/summary/retry', { method: 'POST' });
    expect(retriedProjection.json).toMatchObject({ consumer: 'summary@v1', status: 'retrying', attempts: 0 });
    const stillRetrying = await call(server, '/api/projections/summary/retry', { method: 'POST' });
    expect([stillRetrying.status, stillRetrying.json.error.code]).toEqual([409, 'EVENTLANE_WORKER_STATE']);
    const projection = await call(server, '/api/projections/summary/skip', {
      method: 'POST',
      body: '{"reason":"poison"}',
    });
    expect(projection.json).toMatchObject({ status: 'skipped', consumer: 'summary@v1', skippedBy: 'alice' });
    const none = await call(server, '/api/projections/summary/retry', { method: 'POST' });
    expect([none.status, none.json.error.code]).toEqual([409, 'EVENTLANE_WORKER_STATE']);

    const audit = ((await call(server, '/api/audit')).json as Record<string, unknown>[]).filter(
      (a) => a.target === `parked:${id}` || a.target === 'projection:summary',
    );
    expect(audit.map((a) => [a.actor, a.action, a.target, a.outcome])).toEqual([
      ['alice', 'projection.skip', 'projection:summary', 'ok'],
      ['alice', 'projection.retry', 'projection:summary', 'ok'],
      ['alice', 'parked.skip', `parked:${id}`, 'ok'],
      ['alice', 'parked.retry', `parked:${id}`, 'failed'],
      ['bob', 'parked.retry', `parked:${id}`, 'ok'],
    ]);
    expect(audit.find((a) => a.outcome === 'failed')).toMatchObject({
      errorCode: 'EVENTLANE_PARKED_EVENT_NOT_FOUND',
    });
    expect(audit.find((a) => a.action === 'parked.skip')!.details).toEqual({ reason: 'bad data' });
    expect(new Date(audit[0]!.at as string).getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it('serves /metrics in Prometheus text format, /healthz and /readyz without a token', async () => {
    const res = await call(server, '/metrics', { token: null });
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain');
    const names = parsePrometheusTextFormat(res.text).map((f) => f.name);
    expect(names).toContain('eventlane_db_consumer_lag_events');
    expect(names).toContain('eventlane_oldest_transaction_age_seconds');
    expect((await call(server, '/readyz', { token: null })).json).toEqual({ ok: true });
  });

  it('describes every route of the API in its OpenAPI document, and nothing else', async () => {
    const served = await call(server, '/api/openapi.json');
    expect(served.json.openapi).toBe('3.1.0');
    const app = buildApp({
      store: seeded.store,
      authenticate: () => undefined,
      openReads: false,
      registries: [],
      onError: () => undefined,
    });
    const routes = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL' && r.path.startsWith('/api/'))
        .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}')}`),
    );
    const documented = new Set(
      Object.entries(openApiDocument().paths as Record<string, object>).flatMap(([p, ops]) =>
        Object.keys(ops).map((m) => `${m} ${p}`),
      ),
    );
    expect([...documented].sort()).toEqual([...routes].sort());
  });

  it('refuses unusable tokens when it is created', () => {
    for (const token of ['short', '', { 'bad name': ALICE }, { ok: 'has space in it 0123456789' }, {}]) {
      expect(() => createOpsHandler({ store: seeded.store, token: token as string })).toThrow(
        expect.objectContaining({ code: 'EVENTLANE_INVALID_CONFIG' }),
      );
    }
  });
});
