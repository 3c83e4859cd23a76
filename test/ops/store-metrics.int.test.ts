import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { ExpectedVersionConflictError, type EventStore } from '../../src/index.js';
import { createOpsHandler, renderMetrics } from '../../src/ops/index.js';
import { openPgStore } from '../consumers/helpers.js';
import { dropSchema, pgAvailable } from '../support/stores.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

type Families = ReturnType<typeof parsePrometheusTextFormat>;

function sample(families: Families, name: string, labels: Record<string, string>): number | undefined {
  const family = families.find((f) => f.name === name);
  const found = family?.metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => (m as { labels?: Record<string, string> }).labels?.[k] === v),
  );
  if (found === undefined) return undefined;
  return Number((found as { value?: string; count?: string }).value ?? (found as { count?: string }).count);
}

/**
 * A histogram's samples of one label set, by `le` (plus `sum` and `count`), read from the text: the parser keeps
 * bucket counts but drops a histogram's labels.
 */
function histogram(text: string, labels: Record<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  const name = 'eventlane_store_append_duration_seconds';
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}_(bucket|sum|count)\\{([^}]*)\\} (\\S+)$`).exec(line);
    if (m === null) continue;
    const pairs = new Map([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((p) => [p[1]!, p[2]!]));
    if (!Object.entries(labels).every(([k, v]) => pairs.get(k) === v)) continue;
    out.set(m[1] === 'bucket' ? pairs.get('le')! : m[1]!, Number(m[3]));
  }
  return out;
}

async function pgStore(): Promise<EventStore> {
  const store = await openPgStore({ poolSize: 4 });
  cleanups.push(async () => {
    await store.close();
    await dropSchema(store.schema);
  });
  return store;
}

const added = (n: number) => Array.from({ length: n }, (_, i) => ({ type: 'item.added', data: { i } }));

describe.skipIf(!pgAvailable())('store append metrics (PostgreSQL)', () => {
  it('count appends by result, the events written, and time each call', async () => {
    const store = await pgStore();
    await store.append('before', added(1));
    const registry = new Registry();
    store.registerMetrics(registry);
    store.registerMetrics(registry); // idempotent: counted once

    await store.append('a', added(3), { expectedVersion: 'no_stream' });
    await store.append('a', added(2), { expectedVersion: 3 });
    await store.transaction((tx) => tx.append('b', added(4)));
    // Two conflicts: a stale expected version, and a stream that exists already.
    await expect(store.append('a', added(1), { expectedVersion: 1 })).rejects.toBeInstanceOf(
      ExpectedVersionConflictError,
    );
    await expect(store.append('b', added(1), { expectedVersion: 'no_stream' })).rejects.toMatchObject({
      code: 'EVENTLANE_CONCURRENCY',
    });
    // An error that is not a conflict: a stream name the store refuses.
    await expect(store.append('', added(1))).rejects.toMatchObject({ code: 'EVENTLANE_INVALID_STREAM' });
    // A retried append whose events are stored already: ok, no event written.
    const first = await store.append('c', [{ id: '01900000-0000-7000-8000-000000000001', ...added(1)[0]! }]);
    const again = await store.append('c', [{ id: '01900000-0000-7000-8000-000000000001', ...added(1)[0]! }]);
    expect([first.duplicate, again.duplicate]).toEqual([false, true]);

    const text = await renderMetrics([registry]);
    const families = parsePrometheusTextFormat(text);
    const schema = store.schema;
    expect(sample(families, 'eventlane_store_appends_total', { schema, result: 'ok' })).toBe(5);
    expect(sample(families, 'eventlane_store_appends_total', { schema, result: 'conflict' })).toBe(2);
    expect(sample(families, 'eventlane_store_appends_total', { schema, result: 'error' })).toBe(1);
    // 3 + 2 + 4 + 1; the event before registerMetrics and the duplicate are not counted.
    expect(sample(families, 'eventlane_store_appended_events_total', { schema })).toBe(10);
    expect(families.find((f) => f.name === 'eventlane_store_append_duration_seconds')?.type).toBe(
      'HISTOGRAM',
    );
    const ok = histogram(text, { schema, result: 'ok' });
    expect([...ok.keys()]).toEqual([
      '0.0005',
      '0.001',
      '0.0025',
      '0.005',
      '0.01',
      '0.025',
      '0.05',
      '0.1',
      '0.25',
      '0.5',
      '1',
      '2.5',
      '5',
      '+Inf',
      'sum',
      'count',
    ]);
    expect([ok.get('+Inf'), ok.get('count')]).toEqual([5, 5]);
    expect(ok.get('sum')).toBeGreaterThan(0);
    expect(histogram(text, { schema, result: 'conflict' }).get('count')).toBe(2);
    expect(histogram(text, { schema, result: 'error' }).get('count')).toBe(1);
  });

  it('a store without registerMetrics reports nothing; createOpsHandler serves them at /metrics', async () => {
    const store = await pgStore();
    const quiet = new Registry();
    await store.append('x', added(2));
    expect(await renderMetrics([quiet])).not.toContain('eventlane_store_');

    const registry = new Registry();
    const ops = createOpsHandler({
      store,
      token: 'a-token-of-32-characters-or-so',
      registries: [registry],
      databaseMetrics: false,
    });
    cleanups.push(() => ops.close());
    await store.append('x', added(2), { expectedVersion: 2 });
    await expect(store.append('x', added(1), { expectedVersion: 2 })).rejects.toMatchObject({
      code: 'EVENTLANE_CONCURRENCY',
    });
    const res = await ops.fetch(new Request('http://ops/metrics'));
    expect(res.status).toBe(200);
    const families = parsePrometheusTextFormat(await res.text());
    const schema = store.schema;
    expect(sample(families, 'eventlane_store_appends_total', { schema, result: 'ok' })).toBe(1);
    expect(sample(families, 'eventlane_store_appends_total', { schema, result: 'conflict' })).toBe(1);
    expect(sample(families, 'eventlane_store_appended_events_total', { schema })).toBe(2);
  });

  it('refuses something that is not a registry', async () => {
    const store = await pgStore();
    expect(() => store.registerMetrics({} as Registry)).toThrow(/prom-client Registry/);
  });
});
