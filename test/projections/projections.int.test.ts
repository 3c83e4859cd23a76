import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createProjections,
  ErrorCodes,
  isEventlaneError,
  type EventStore,
  type Projections,
  type ProjectionsOptions,
} from '../../src/index.js';
import { quoteIdent } from '../../src/store/names.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable } from '../support/stores.js';
import { openPgStore, sleep, waitFor } from '../consumers/helpers.js';
import { fold, readTable, summary, waitReadable, writeEvents } from './fixtures/model.js';
import { scaled } from '../support/time.js';
import { kill9, track } from '../support/processes.js';

const CHILD = fileURLToPath(new URL('./fixtures/rebuild-child.ts', import.meta.url));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(): Promise<{ store: EventStore; q: string }> {
  const store = await openPgStore();
  cleanups.push(async () => {
    await store.close();
    await dropSchema(store.schema);
  });
  return { store, q: quoteIdent(store.schema) };
}

function run(store: EventStore, options: ProjectionsOptions): Projections {
  const p = createProjections(store, options);
  cleanups.push(() => p.stop());
  return p;
}

async function expectEqualToFold(store: EventStore, version: number, table: string): Promise<void> {
  await waitReadable(store);
  const expected = await fold(store, version);
  const actual = await readTable(store, table);
  const wrong = [...expected].filter(
    ([stream, row]) => JSON.stringify(actual.get(stream)) !== JSON.stringify(row),
  );
  expect(wrong.slice(0, 3).map(([s, row]) => ({ expected: row, actual: actual.get(s) }))).toEqual([]);
  expect(actual.size).toBe(expected.size);
}

describe.skipIf(!pgAvailable())('projections on PostgreSQL', () => {
  it('rebuilds to v2 while writers append ~1,000 events/s; readers of the stable name never fail nor see it empty', async () => {
    const { store, q } = await setup();
    await writeEvents(store, 20_000, { streams: 500 });
    const v1 = run(store, { projections: [summary(1)], schema: store.schema, pollMs: 10 });
    await v1.start();
    await v1.waitLive('order_summary');

    let writing = true;
    let written = 0;
    const writeStarted = Date.now();
    const writer = (async () => {
      // ~1,000 events/s: 10 events every 10 ms, spread over the streams.
      for (let i = 0; writing; i++) {
        const started = Date.now();
        await store.append(
          `order-${i % 700}`,
          Array.from({ length: 10 }, () => ({ type: 'order.paid', data: {} })),
        );
        written += 10;
        await sleep(Math.max(0, 10 - (Date.now() - started)));
      }
    })();
    let reading = true;
    const reads = { ok: 0, empty: 0, errors: [] as string[], sawV2: 0 };
    const reader = (async () => {
      while (reading) {
        try {
          const rows = await store.executor.query<{ n: string; v2: string }>(
            `select count(*)::text as n, count(*) filter (where status like '%#%')::text as v2 from ${q}.order_summary`,
          );
          if (Number(rows[0]!.n) === 0) reads.empty++;
          else reads.ok++;
          if (Number(rows[0]!.v2) > 0) reads.sawV2++;
        } catch (error) {
          reads.errors.push((error as Error).message);
        }
      }
    })();

    await sleep(300);
    // The new deploy: v2, built with the batch handler while v1 keeps serving (its runner still runs).
    const v2 = run(store, {
      projections: [summary(2, { batch: true })],
      schema: store.schema,
      pageSize: 1000,
      pollMs: 10,
    });
    await v2.start();
    expect(v2.progress('order_summary').status).toBe('building');
    await v2.waitLive('order_summary', scaled(60_000));
    await sleep(500);
    writing = false;
    await writer;
    await waitReadable(store);
    await v2.waitLive('order_summary', scaled(30_000));
    reading = false;
    await reader;
    const seconds = (Date.now() - writeStarted) / 1000;
    console.log(
      `rebuild under load: ${written} events appended in ${seconds.toFixed(1)} s (${Math.round(written / seconds)}/s), ` +
        `${reads.ok} reads of the stable name (${reads.sawV2} saw v2), ${reads.empty} empty, ${reads.errors.length} errors`,
    );

    expect(reads.errors).toEqual([]);
    expect(reads.empty).toBe(0);
    expect(reads.ok).toBeGreaterThan(50);
    expect(reads.sawV2).toBeGreaterThan(0);
    expect(written).toBeGreaterThan(500);
    await expectEqualToFold(store, 2, `${q}.order_summary`);
    await expectEqualToFold(store, 2, `${q}.order_summary__v2`);
    const versions = await store.executor.query<{ version: number; status: string }>(
      `select version, status from ${q}.projections where name = 'order_summary' order by version`,
    );
    expect(versions).toEqual([
      { version: 1, status: 'retired' },
      { version: 2, status: 'live' },
    ]);
    // The old version is dropped by command (or after graceMs).
    expect(await v2.dropRetired('order_summary')).toEqual([1]);
    const [t] = await store.executor.query<{ r: string | null }>(
      `select to_regclass('${store.schema}.order_summary__v1')::text as r`,
    );
    expect(t!.r).toBeNull();

    // Lag per projection and version through the metrics API.
    const registry = new Registry();
    v2.registerMetrics(registry);
    const lagValues = async () =>
      (await registry.getMetricsAsJSON()).find((m) => m.name === 'eventlane_projection_lag_events')!.values;
    await waitFor('v2 caught up', async () => (await lagValues())[0]?.value === 0);
    expect(await lagValues()).toEqual([
      expect.objectContaining({ labels: { projection: 'order_summary', version: '2' }, value: 0 }),
    ]);
  });

  it('resumes a rebuild killed with kill -9 from its checkpoint and ends equal to the fold', async () => {
    const { store, q } = await setup();
    await writeEvents(store, 20_000, { streams: 300 });
    await waitReadable(store);
    const env = { PG_URL: SERVICES.postgres.url, SCHEMA: store.schema, MAX_RATE: '4000', PAGE_SIZE: '500' };
    // Tracked: killed and reaped after the test even if it fails first (test/support/processes.ts).
    const child = track(
      spawn(process.execPath, ['--import', 'tsx', CHILD], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    const applied = async () => {
      const [row] = await store.executor.query<{ applied: string; status: string }>(
        `select applied::text as applied, status from ${q}.projections where name = 'order_summary' and version = 1`,
      );
      return { applied: Number(row?.applied ?? 0), status: row?.status };
    };
    await waitFor('half of the rebuild', async () => (await applied()).applied >= 10_000, 60_000, 20);
    await kill9(child);
    const atKill = await applied();
    expect(atKill.status).toBe('building');
    expect(atKill.applied).toBeGreaterThanOrEqual(10_000);
    expect(atKill.applied).toBeLessThan(20_000);

    const p = run(store, { projections: [summary(1, { batch: true })], schema: store.schema, pageSize: 500 });
    await p.start();
    const progress = p.progress('order_summary');
    expect(progress.done).toBe(atKill.applied); // resumed from its own checkpoint, not from the start
    expect(progress.total).toBe(20_000);
    await p.waitLive('order_summary');
    expect((await applied()).applied).toBe(20_000); // every event applied exactly once across both runs
    await expectEqualToFold(store, 1, `${q}.order_summary`);
  });

  it('inline: runs in the append transaction (read-your-writes); a failing handler rolls the append back', async () => {
    const { store, q } = await setup();
    const p = run(store, {
      projections: [summary(1, { mode: 'inline', failOn: 'order.boom' })],
      schema: store.schema,
    });
    await p.start();
    await p.waitLive('order_summary');
    const seen = await p.store.transaction(async (tx) => {
      await tx.append('order-1', [{ type: 'order.created', data: {} }]);
      return tx.query<{ n: number }>(`select n from ${q}.order_summary where stream = 'order-1'`);
    });
    expect(seen).toEqual([{ n: 1 }]);
    await p.store.append('order-1', [{ type: 'order.paid', data: {} }]);
    const err = await p.store
      .append('order-1', [{ type: 'order.boom', data: {} }])
      .catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('refusing order.boom');
    expect(await store.streamVersion('order-1')).toBe(2);
    expect([...(await readTable(store, `${q}.order_summary`)).values()]).toEqual([
      { stream: 'order-1', n: 2, last_type: 'order.paid', status: 'open' },
    ]);
    const report = await p.checkDrift('order_summary');
    expect(report.ok).toBe(true);
  });

  it('drift check names exactly the corrupted key', async () => {
    const { store, q } = await setup();
    await writeEvents(store, 5_000, { streams: 200, perCall: 10 });
    await waitReadable(store);
    const p = run(store, { projections: [summary(1)], schema: store.schema });
    await p.start();
    await p.waitLive('order_summary');
    const clean = await p.checkDrift('order_summary');
    expect(clean.ok).toBe(true);
    expect(clean.tables[0]).toMatchObject({
      table: 'order_summary',
      liveRows: 200,
      shadowRows: 200,
      differences: [],
    });
    await store.executor.query(`update ${q}.order_summary__v1 set n = n + 1 where stream = 'order-7'`);
    const report = await p.checkDrift('order_summary');
    expect(report.ok).toBe(false);
    expect(report.tables[0]!.differences).toEqual([{ key: { stream: 'order-7' }, kind: 'changed' }]);
    await store.executor.query(`delete from ${q}.order_summary__v1 where stream = 'order-9'`);
    const second = await p.checkDrift('order_summary');
    expect(second.tables[0]!.liveRows).toBe(199);
    expect(second.tables[0]!.differences).toEqual([
      { key: { stream: 'order-7' }, kind: 'changed' },
      { key: { stream: 'order-9' }, kind: 'missing' },
    ]);
    const [shadow] = await store.executor.query<{ r: string | null }>(
      `select to_regclass('${store.schema}.order_summary__drift')::text as r`,
    );
    expect(shadow!.r).toBeNull();
  });

  it("drift check refuses a shadow table's name held by a table eventlane did not create, and leaves it", async () => {
    const { store, q } = await setup();
    await writeEvents(store, 50, { streams: 5, perCall: 10 });
    await waitReadable(store);
    const p = run(store, { projections: [summary(1)], schema: store.schema });
    await p.start();
    await p.waitLive('order_summary');
    await store.executor.query(`create table ${q}.order_summary__drift (keep text primary key)`);
    await store.executor.query(`insert into ${q}.order_summary__drift values ('mine')`);
    const error = await p.checkDrift('order_summary').catch((e: unknown) => e);
    expect(isEventlaneError(error, ErrorCodes.PROJECTION_OBJECT_TAKEN), String(error)).toBe(true);
    expect((error as Error).message).toContain('order_summary__drift');
    const rows = await store.executor.query<{ keep: string }>(`select keep from ${q}.order_summary__drift`);
    expect(rows).toEqual([{ keep: 'mine' }]);
    // Once the user's table is out of the way, the check runs and cleans up after itself.
    await store.executor.query(`drop table ${q}.order_summary__drift`);
    expect((await p.checkDrift('order_summary')).ok).toBe(true);
  });

  it('bad input: duplicate names, a version going down, clashing tables → typed errors', async () => {
    const { store } = await setup();
    const code = async (f: () => Promise<unknown>) => {
      const e = await f().then(
        () => null,
        (error: unknown) => error,
      );
      return isEventlaneError(e) ? e.code : e;
    };
    expect(
      await code(() => run(store, { projections: [summary(1), summary(2)], schema: store.schema }).start()),
    ).toBe(ErrorCodes.DUPLICATE_PROJECTION);
    expect(
      await code(() =>
        run(store, {
          projections: [summary(1), summary(1, { name: 'other' })],
          schema: store.schema,
        }).start(),
      ),
    ).toBe(ErrorCodes.PROJECTION_TABLE_CLASH);
    const p2 = run(store, { projections: [summary(2)], schema: store.schema });
    await p2.start();
    await p2.stop();
    expect(await code(() => run(store, { projections: [summary(1)], schema: store.schema }).start())).toBe(
      ErrorCodes.PROJECTION_VERSION,
    );
    expect(
      await code(() =>
        run(store, { projections: [summary(1, { name: 'other' })], schema: store.schema }).start(),
      ),
    ).toBe(ErrorCodes.PROJECTION_TABLE_CLASH);
    const err = await run(store, { projections: [summary(1)], schema: store.schema })
      .start()
      .catch((e: Error) => e);
    expect((err as Error).message).toMatch(/version 1.*already has version 2.*version 3/);
  });
});
