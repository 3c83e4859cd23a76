import { afterEach, describe, expect, it } from 'vitest';
import {
  createWorker,
  defineProjection,
  defineReactor,
  parkedEvents,
  type EventStore,
  type Worker,
} from '../../src/index.js';
import { quoteIdent } from '../../src/store/names.js';
import { dropSchema, pgAvailable } from '../support/stores.js';
import { appendSpread, openPgStore, sleep, waitFor } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(): Promise<{ store: EventStore; q: string }> {
  const store = await openPgStore();
  const q = quoteIdent(store.schema);
  await store.executor.query(
    `create table ${q}.totals (stream text primary key, total bigint not null, n int not null, last int not null)`,
  );
  cleanups.push(async () => {
    await store.close();
    await dropSchema(store.schema);
  });
  return { store, q };
}

function totalsProjection(q: string, name = 'totals', fail?: (stream: string, position: number) => boolean) {
  return defineProjection({
    name,
    handlers: {
      'item.added': async (e, { query }) => {
        if (fail?.(e.stream, e.streamPosition)) throw new Error(`failing ${e.stream}@${e.streamPosition}`);
        const [row] = await query<{ last: number }>(`select last from ${q}.totals where stream = $1`, [
          e.stream,
        ]);
        // The order guard's promise, checked from inside: each stream arrives contiguous and increasing.
        if ((row?.last ?? 0) + 1 !== e.streamPosition)
          throw new Error(`out of order: ${e.stream} ${row?.last} → ${e.streamPosition}`);
        await query(
          `insert into ${q}.totals (stream, total, n, last) values ($1, $2, 1, $3)
           on conflict (stream) do update set total = totals.total + excluded.total, n = totals.n + 1, last = excluded.last`,
          [e.stream, (e.data as { amount: number }).amount, e.streamPosition],
        );
      },
    },
  });
}

async function expectFold(
  store: EventStore,
  q: string,
  except: (stream: string) => boolean = () => false,
): Promise<void> {
  const expected = new Map<string, { total: number; n: number }>();
  for await (const e of store.iterateLog()) {
    if (except(e.stream)) continue;
    const t = expected.get(e.stream) ?? { total: 0, n: 0 };
    t.total += (e.data as { amount: number }).amount;
    t.n += 1;
    expected.set(e.stream, t);
  }
  const rows = await store.executor.query<{ stream: string; total: string; n: number }>(
    `select * from ${q}.totals`,
  );
  const actual = new Map(
    rows.filter((r) => !except(r.stream)).map((r) => [r.stream, { total: Number(r.total), n: r.n }]),
  );
  expect(actual).toEqual(expected);
}

function track(worker: Worker): Worker {
  cleanups.push(() => worker.stop());
  return worker;
}

describe.skipIf(!pgAvailable())('createWorker from the log (PostgreSQL)', () => {
  it('applies every event once, in stream order, and reports no lag afterwards', async () => {
    const { store, q } = await setup();
    await appendSpread(store, 2000, 50);
    const worker = track(
      createWorker(store, { from: 'log', consumers: [totalsProjection(q)], partitions: 4 }),
    );
    await worker.start();
    expect(worker.partitions()).toEqual([0, 1, 2, 3]);
    await appendSpread(store, 1000, 50);
    await waitFor('lag 0', async () => (await worker.health())[0]!.eventsBehind === 0);
    await expectFold(store, q);
    const [h] = await worker.health();
    expect(h).toMatchObject({
      consumer: 'totals',
      kind: 'projection',
      eventsBehind: 0,
      parked: 0,
      breaker: 'closed',
    });
    expect(h!.applied).toBe(3000);
    const text = await worker.metrics.metrics();
    expect(text).toContain('eventlane_consumer_events_total{consumer="totals",outcome="applied"} 3000');
    expect(text).toContain('eventlane_consumer_lag_events{consumer="totals"} 0');
  });

  it('loses nothing when lanes overflow their queue and the reader rewinds', async () => {
    const { store, q } = await setup();
    // One append per stream: an event dropped by a lane has no later event of its stream to reveal the gap.
    for (let s = 0; s < 100; s++) {
      await store.append(
        `one-${s}`,
        Array.from({ length: 30 }, () => ({ type: 'item.added', data: { amount: 1 } })),
      );
    }
    const worker = track(
      createWorker(store, {
        from: 'log',
        consumers: [totalsProjection(q)],
        partitions: 2,
        maxQueuedPerLane: 30,
        readBatchSize: 100,
        batchSize: 20,
      }),
    );
    await worker.start();
    await waitFor('lag 0', async () => (await worker.health())[0]!.eventsBehind === 0);
    await expectFold(store, q);
    expect(worker.stats()[0]!.applied).toBe(3000);
  });

  it('shares partitions between two workers and rebalances when one leaves', async () => {
    const { store, q } = await setup();
    const opts = {
      from: 'log' as const,
      consumers: [totalsProjection(q)],
      partitions: 8,
      leaseTtlMs: 1500,
      heartbeatMs: 100,
    };
    const a = track(createWorker(store, { ...opts, workerId: 'a' }));
    const b = track(createWorker(store, { ...opts, workerId: 'b' }));
    await a.start();
    await b.start();
    await waitFor('an even split', () => a.partitions().length === 4 && b.partitions().length === 4, 10_000);
    expect([...a.partitions(), ...b.partitions()].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await appendSpread(store, 1500, 40);
    await sleep(200);
    await b.stop();
    await waitFor('a takes over', () => a.partitions().length === 8, 10_000);
    await appendSpread(store, 500, 40);
    await waitFor('lag 0', async () => (await a.health())[0]!.eventsBehind === 0);
    await expectFold(store, q);
  });

  it('fences a worker whose lease was taken: its transactions fail, the new owner carries on', async () => {
    const { store, q } = await setup();
    const errors: string[] = [];
    const worker = track(
      createWorker(store, {
        from: 'log',
        consumers: [totalsProjection(q)],
        partitions: 1,
        leaseTtlMs: 600,
        heartbeatMs: 100,
        onError: (e) => errors.push((e as { code?: string }).code ?? e.message),
      }),
    );
    await worker.start();
    await appendSpread(store, 100, 5);
    await waitFor('applied', () => worker.stats()[0]!.applied === 100);
    // Another worker takes the partition over (as after a missed heartbeat): new owner, new fencing token.
    await store.executor.query(
      `update ${q}.partition_leases set owner = 'thief', fencing_token = fencing_token + 1, heartbeat_at = now() + interval '1 second'`,
    );
    await appendSpread(store, 50, 5);
    await waitFor(
      'lease lost',
      () => errors.includes('EVENTLANE_LEASE_LOST') || worker.partitions().length === 0,
      5000,
      10,
    );
    const [mid] = await store.executor.query<{ n: string }>(`select sum(n)::text as n from ${q}.totals`);
    expect(Number(mid!.n)).toBe(100); // nothing committed without the lease
    // The thief never renews: the lease expires and the worker takes it back with a newer token.
    await waitFor('taken back', () => worker.partitions().length === 1, 10_000);
    await waitFor('lag 0', async () => (await worker.health())[0]!.eventsBehind === 0);
    await expectFold(store, q);
    const [lease] = await store.executor.query<{ fencing_token: string }>(
      `select fencing_token from ${q}.partition_leases`,
    );
    expect(Number(lease!.fencing_token)).toBe(3);
  });

  it('refuses to run a consumer that a live worker of another group runs', async () => {
    const { store, q } = await setup();
    const p = totalsProjection(q);
    const other = defineReactor({ name: 'other', handlers: { 'x.y': async () => {} } });
    const a = track(createWorker(store, { from: 'log', consumers: [p], partitions: 2 }));
    await a.start();
    const b = createWorker(store, { from: 'log', consumers: [p, other], partitions: 2 });
    await expect(b.start()).rejects.toMatchObject({
      code: 'EVENTLANE_WORKER_STATE',
      message: expect.stringContaining('[totals]'),
    });
    const c = track(
      createWorker(store, { from: 'log', consumers: [p, other], partitions: 2, group: 'totals' }),
    );
    await c.start();
  });

  it('parks a poison event; its stream waits, others finish; retry drains in order; skip is recorded', async () => {
    const { store, q } = await setup();
    let broken = true;
    const projection = totalsProjection(
      q,
      'totals',
      (stream, pos) => broken && stream === 's-3' && pos === 2,
    );
    const worker = track(
      createWorker(store, {
        from: 'log',
        consumers: [projection],
        partitions: 4,
        retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
        parkedPollMs: 50,
      }),
    );
    await worker.start();
    await appendSpread(store, 600, 10);
    const parked = parkedEvents(store);
    await waitFor('the poison event parked', async () => (await parked.list()).length === 1);
    await waitFor('other streams done', async () => {
      const [row] = await store.executor.query<{ n: string }>(
        `select count(*) as n from ${q}.totals where stream <> 's-3'`,
      );
      return (
        Number(row!.n) === 9 &&
        (await worker.health())[0]!.eventsBehind === (await store.streamVersion('s-3')) - 1
      );
    });
    await expectFold(store, q, (s) => s === 's-3');
    const [p] = await parked.list();
    expect(p).toMatchObject({
      consumer: 'totals',
      stream: 's-3',
      streamPosition: 2,
      status: 'parked',
      attempts: 3,
    });
    expect(p!.error).toContain('failing s-3@2');
    expect(p!.stack).toContain('Error');
    const [h] = await worker.health();
    expect(h!.parked).toBe(1);
    // Its stream waited: only position 1 was applied.
    const [s3] = await store.executor.query<{ last: number }>(
      `select last from ${q}.totals where stream = 's-3'`,
    );
    expect(s3!.last).toBe(1);

    broken = false;
    await parked.retry(p!.id);
    await waitFor('drained', async () => (await worker.health())[0]!.eventsBehind === 0);
    await expectFold(store, q);
    expect(await parked.list()).toEqual([]);
    expect((await parked.list({ status: ['resolved'] }))[0]).toMatchObject({
      stream: 's-3',
      status: 'resolved',
    });
    expect((await parked.list({ status: ['resolved'] }))[0]!.caughtUpAt).toBeInstanceOf(Date);

    // Skip: a second poison event, skipped by an operator; the stream continues after it.
    broken = true;
    const skipping = totalsProjection(q, 'totals2', (stream, pos) => stream === 's-4' && pos === 1);
    await store.executor.exec(`truncate ${q}.totals`);
    const w2 = track(
      createWorker(store, {
        from: 'log',
        consumers: [skipping],
        partitions: 4,
        retry: { maxAttempts: 2, baseDelayMs: 5 },
        parkedPollMs: 50,
      }),
    );
    await w2.start();
    await waitFor('parked s-4', async () => (await parked.list({ consumer: 'totals2' })).length === 1);
    const [p2] = await parked.list({ consumer: 'totals2' });
    // The projection's own order check would refuse position 2 after a skipped 1; start the stream's row as if 1 applied.
    await store.executor.query(`insert into ${q}.totals values ('s-4', 0, 0, 1)`);
    const skipped = await parked.skip(p2!.id, { by: 'alice', reason: 'bad data' });
    expect(skipped).toMatchObject({ status: 'skipped', skippedBy: 'alice', skipReason: 'bad data' });
    expect(skipped.skippedAt).toBeInstanceOf(Date);
    await waitFor('drained after skip', async () => (await w2.health())[0]!.eventsBehind === 0);
    const [s4] = await store.executor.query<{ last: number }>(
      `select last from ${q}.totals where stream = 's-4'`,
    );
    expect(s4!.last).toBe(await store.streamVersion('s-4'));
    expect((await parked.list({ consumer: 'totals2', status: ['skipped'] }))[0]!.skippedBy).toBe('alice');
    await waitFor(
      'skip caught up',
      async () => (await parked.list({ consumer: 'totals2', status: ['skipped'] }))[0]!.caughtUpAt !== null,
    );
  });

  it('opens the breaker on a failing dependency and drops calls to the probe rate', async () => {
    const { store } = await setup();
    const calls: number[] = [];
    const reactor = defineReactor({
      name: 'mailer',
      handlers: {
        'item.added': async () => {
          calls.push(Date.now());
          await Promise.resolve();
          throw new Error('dependency down');
        },
      },
    });
    const worker = track(
      createWorker(store, {
        from: 'log',
        consumers: [reactor],
        partitions: 4,
        retry: { maxAttempts: 1000, baseDelayMs: 1, maxDelayMs: 20 },
        breaker: { threshold: 20, windowMs: 5000, coolDownMs: 400 },
      }),
    );
    await appendSpread(store, 200, 100);
    await worker.start();
    await waitFor('breaker open', async () => (await worker.health())[0]!.breaker !== 'closed', 10_000, 5);
    const openedAt = Date.now();
    const before = calls.length;
    await sleep(2000);
    const during = calls.filter((t) => t > openedAt).length;
    // Closed, it ran ≥ 20 failing calls in well under a second; open, about one probe per 400 ms cool-down.
    expect(before).toBeGreaterThanOrEqual(20);
    expect(during).toBeLessThanOrEqual(6);
    expect(await worker.metrics.metrics()).toMatch(
      /eventlane_consumer_breaker_state\{consumer="mailer"\} [12]/,
    );
    console.log(`breaker: ${before} calls before opening, ${during} in the 2 s after (probe every 400 ms)`);
  });
});
