import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { createEventStore, ErrorCodes, type EventStore } from '../../src/index.js';
import { readLogStats } from '../../src/retention/stats.js';
import { quoteIdent } from '../../src/store/names.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable, uniqueSchema } from '../support/stores.js';

const DAY = 86_400_000;

async function cli(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['node', 'eventlane', ...args], {
    out: (t) => (stdout += t),
    err: (t) => (stderr += t),
    env: { DATABASE_URL: SERVICES.postgres.url },
    cwd,
    exitCode: 0,
  });
  process.exitCode = undefined;
  return { code, stdout, stderr };
}

describe.skipIf(!pgAvailable())('log stats', () => {
  let store: EventStore;
  let dir: string;
  const old = new Date(Date.now() - 60 * DAY);
  const month = (d: Date) => d.toISOString().slice(0, 7);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'eventlane-stats-'));
    store = await createEventStore({ url: SERVICES.postgres.url, schema: uniqueSchema() });
    const ev = (type: string) => ({ type, data: { note: 'x'.repeat(200) } });
    await store.append('order-1', [ev('order.created'), ev('order.paid'), ev('order.shipped')]);
    await store.append('order-2', [ev('order.created'), ev('order.paid')]);
    await store.append('user:7', [ev('user.registered')]);
    await store.append('misc', [ev('note.added')]);
    // order-1 was recorded 60 days ago.
    await store.executor.query(
      `update ${quoteIdent(store.schema)}.events set recorded_at = $1 where stream = 'order-1'`,
      [old],
    );
  });
  afterAll(async () => {
    await store?.close();
    await dropSchema(store.schema);
  });

  it('counts by type, prefix and month, growth over 30 days, size, and what archiving would free', async () => {
    const s = await readLogStats(store, { before: new Date(Date.now() - 30 * DAY) });
    expect(s.events).toBe(7);
    expect(s.streams).toBe(4);
    expect(s.byType).toEqual([
      { type: 'order.created', events: 2 },
      { type: 'order.paid', events: 2 },
      { type: 'note.added', events: 1 },
      { type: 'order.shipped', events: 1 },
      { type: 'user.registered', events: 1 },
    ]);
    expect(s.byStreamPrefix).toEqual([
      { prefix: 'order', events: 5, streams: 2 },
      { prefix: 'misc', events: 1, streams: 1 },
      { prefix: 'user', events: 1, streams: 1 },
    ]);
    const months = new Map(s.byMonth.map((m) => [m.month, m.events]));
    expect(months.get(month(old))).toBe(3);
    expect(months.get(month(new Date()))).toBe(4);
    expect(s.growth).toEqual({ days: 30, events: 4, eventsPerDay: 0.13 });
    expect(s.size.totalBytes).toBe(s.size.tableBytes + s.size.indexBytes);
    expect(s.size.indexBytes).toBeGreaterThan(0);
    expect(s.archivable).toMatchObject({ events: 3, streams: 1 });
    // Three rows of ~250 bytes each, plus 3/7 of the indexes.
    expect(s.archivable!.estimatedBytes).toBeGreaterThan(750);
    expect(s.archivable!.estimatedBytes).toBeLessThan(s.size.totalBytes);
    const top = await readLogStats(store, { top: 1 });
    expect(top.byType).toHaveLength(1);
    expect(top.archivable).toBeUndefined();
    await expect(readLogStats(store, { before: new Date('nope') })).rejects.toMatchObject({
      code: ErrorCodes.INVALID_ARGUMENT,
    });
  });

  it('eventlane stats prints a table and --json; streams close and closed', async () => {
    const human = await cli(['stats', '--schema', store.schema, '--before', old.toISOString()], dir);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('7 events in 4 streams');
    expect(human.stdout).toMatch(/order\s+5\s+2/);
    const json = await cli(['stats', '--schema', store.schema, '--json'], dir);
    expect(JSON.parse(json.stdout)).toMatchObject({ events: 7, streams: 4 });
    const bad = await cli(['stats', '--schema', store.schema, '--before', 'yesterday-ish'], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ISO 8601');

    const closed = await cli(
      ['streams', 'close', 'order-2', '--schema', store.schema, '--expected-version', '2'],
      dir,
    );
    expect(closed.code).toBe(0);
    expect(closed.stdout).toContain('Closed order-2 at version 3');
    const again = await cli(['streams', 'close', 'order-2', '--schema', store.schema], dir);
    expect(again.code).toBe(5); // not allowed now, like a version conflict
    expect(again.stderr).toContain('was closed at');
    const list = await cli(['streams', 'closed', '--schema', store.schema, '--json'], dir);
    expect(JSON.parse(list.stdout)).toMatchObject([{ stream: 'order-2', version: 3 }]);
  });
});
