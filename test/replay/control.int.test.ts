import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createReplay, defineProjection, ErrorCodes, type EventStore, type Replay } from '../../src/index.js';
import { pgAvailable } from '../support/stores.js';
import { appendOrders, closeStore, openStore, q, settle, waitFor } from './helpers.js';

async function setup(
  events: number,
): Promise<{ store: EventStore; replay: Replay; applied: () => Promise<number> }> {
  const store = await openStore();
  await store.executor.query(`create table ${q(store)}.seen (event_id uuid primary key)`);
  await appendOrders(store, events, 20);
  await settle(store);
  const def = defineProjection({
    name: 'seen',
    handlers: {
      'order.paid': async (e, { query }) => {
        await query(`insert into "${store.schema}".seen (event_id) values ($1)`, [e.id]);
      },
    },
  });
  const replay = createReplay(store, { consumers: [def], pollMs: 20 });
  const applied = async () =>
    (await store.executor.query<{ n: number }>(`select count(*)::int as n from ${q(store)}.seen`))[0]!.n;
  return { store, replay, applied };
}

describe.skipIf(!pgAvailable())('replay control and progress (PostgreSQL)', () => {
  let store: EventStore | undefined;
  let replay: Replay | undefined;
  afterEach(async () => {
    await replay?.stop();
    if (store) await closeStore(store);
    store = replay = undefined;
  });

  it('holds its rate limit, takes a new limit while running, and reports progress with an ETA', async () => {
    ({ store, replay } = await setup(3000));
    const started = Date.now();
    const job = await replay.start({ kind: 'backfill', consumer: 'seen', maxEventsPerSecond: 400 });
    await waitFor('some progress', async () => (await replay!.get(job.id)).done >= 200);
    const slow = await replay.get(job.id);
    const elapsed = (Date.now() - started) / 1000;
    // A limit can only be broken upwards: done never runs ahead of rate × time (plus one page of burst).
    expect(slow.done).toBeLessThanOrEqual(400 * elapsed + 100);
    expect(slow.state).toBe('running');
    expect(slow.total).toBe(3000);
    expect(slow.rate).toBeGreaterThan(0);
    expect(slow.etaMs).toBeGreaterThan(0);
    // At 400/s the rest would take over 6 s; the new limit finishes it in well under that.
    await replay.setRate(job.id, 1_000_000);
    const done = await replay.wait(job.id, { timeoutMs: 20_000 });
    expect(done).toMatchObject({ state: 'completed', done: 3000, etaMs: 0, maxEventsPerSecond: 1_000_000 });
  });

  it('pauses, resumes from its checkpoint, and cancels; a cancelled job cannot be resumed', async () => {
    let applied: () => Promise<number>;
    ({ store, replay, applied } = await setup(3000));
    const job = await replay.start({ kind: 'backfill', consumer: 'seen', maxEventsPerSecond: 1000 });
    await waitFor('progress', async () => (await replay!.get(job.id)).done >= 300);
    await replay.pause(job.id);
    const paused = await replay.wait(job.id);
    expect(paused.state).toBe('paused');
    const at = await applied();
    expect(at).toBe(paused.applied);
    expect(at).toBeLessThan(3000);
    await new Promise((r) => setTimeout(r, 200));
    expect(await applied()).toBe(at);

    const registry = new Registry();
    replay.registerMetrics(registry);
    const text = await registry.metrics();
    expect(text).toContain('eventlane_replay_jobs{state="paused"} 1');
    expect(text).toContain(
      `eventlane_replay_done_events{job="${job.id}",kind="backfill",consumer="seen"} ${paused.done}`,
    );
    expect(text).toContain(
      `eventlane_replay_total_events{job="${job.id}",kind="backfill",consumer="seen"} 3000`,
    );

    await replay.setRate(job.id, null);
    await replay.resume(job.id);
    const done = await replay.wait(job.id);
    expect(done).toMatchObject({ state: 'completed', applied: 3000 });
    expect(await applied()).toBe(3000);
    await expect(replay.pause(job.id)).rejects.toMatchObject({ code: ErrorCodes.REPLAY_JOB_STATE });

    const second = await replay.start({
      kind: 'backfill',
      consumer: 'seen',
      maxEventsPerSecond: 100,
      detached: true,
    });
    await replay.cancel(second.id);
    await expect(replay.resume(second.id)).rejects.toMatchObject({ code: ErrorCodes.REPLAY_JOB_STATE });
    expect((await replay.list({ states: ['cancelled'] })).map((j) => j.id)).toEqual([second.id]);
  });

  it('follows the log after catching up, until cancelled', async () => {
    let applied: () => Promise<number>;
    ({ store, replay, applied } = await setup(500));
    const job = await replay.start({ kind: 'backfill', consumer: 'seen', follow: true });
    expect(job.to).toBeNull();
    await waitFor('caught up', async () => (await applied()) === 500);
    await appendOrders(store, 100, 5);
    await waitFor('new events applied', async () => (await applied()) === 600);
    const running = await replay.get(job.id);
    expect(running.state).toBe('running');
    expect(running.etaMs).toBeNull();
    await replay.cancel(job.id);
    expect((await replay.wait(job.id)).state).toBe('cancelled');
  });

  it('in adaptive mode, yields to a consumer that lags behind, and still completes', async () => {
    ({ store, replay } = await setup(1500));
    const slowed = createReplay(store, {
      consumers: [defineProjection({ name: 'seen', handlers: { 'order.paid': () => Promise.resolve() } })],
      // The target ('seen', the order guard's consumer) is 1,500 events behind at the start: above this limit.
      adaptive: { lagEvents: 100 },
      pageSize: 100,
    });
    const fast = await slowed.wait(
      (await slowed.start({ kind: 'backfill', consumer: 'seen', maxEventsPerSecond: 5000, adaptive: true }))
        .id,
    );
    expect(fast).toMatchObject({ state: 'completed', done: 1500, adaptive: true });
    // At 5,000/s 1,500 events take 0.3 s (15 pages); halving the rate with every page while the lag is above the
    // limit takes it down to minFactor (250/s), and the lag is measured again only every 2 s.
    const seconds = (fast.finishedAt!.getTime() - fast.startedAt!.getTime()) / 1000;
    expect(seconds).toBeGreaterThan(2);
    await slowed.stop();
  });

  it('a second process cannot take a running job over unless told to', async () => {
    ({ store, replay } = await setup(2000));
    const job = await replay.start({ kind: 'backfill', consumer: 'seen', maxEventsPerSecond: 300 });
    const other = createReplay(store, {
      consumers: [defineProjection({ name: 'seen', handlers: { 'order.paid': () => Promise.resolve() } })],
    });
    await expect(other.resume(job.id)).rejects.toMatchObject({ code: ErrorCodes.REPLAY_JOB_STATE });
    await other.stop();
  });
});
