import { afterEach, describe, expect, it } from 'vitest';
import { embeddedBus } from '../../src/bus/embedded/index.js';
import {
  archive,
  compareCheckpoints,
  createReplay,
  defineProjection,
  ErrorCodes,
  type EventStore,
  type Replay,
} from '../../src/index.js';
import { createRelay } from '../../src/relay/relay.js';
import { getPartitionCount } from '../../src/store/settings.js';
import { pgAvailable } from '../support/stores.js';
import { closeStore, openStore, q, settle, waitFor } from '../replay/helpers.js';
import { fill, hotCount, readAll, tempDir } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Held {
  code: string;
  message: string;
  details: { holders: { kind: string; name: string; checkpoint: string }[] };
}

async function rejection(p: Promise<unknown>): Promise<Held> {
  try {
    await p;
  } catch (error) {
    return error as Held;
  }
  throw new Error('expected a rejection');
}

async function setup(): Promise<{ store: EventStore; dir: string }> {
  const store = await openStore();
  cleanups.push(() => closeStore(store));
  return { store, dir: tempDir(cleanups) };
}

/** Events left in the table at or before `checkpoint`. */
async function hotThrough(store: EventStore, checkpoint: string): Promise<number> {
  const [tx, gp] = checkpoint.split(':');
  const [row] = await store.executor.query<{ n: number }>(
    `select count(*)::int as n from ${q(store)}.events
      where (tx_order, global_position) <= ($1::text::xid8, $2::bigint)`,
    [tx, gp],
  );
  return row!.n;
}

describe.skipIf(!pgAvailable())('archive holders: relays and replay jobs', () => {
  it('never passes a relay that is behind: lowers the bound to its checkpoint and names it, or refuses', async () => {
    const { store, dir } = await setup();
    await fill(store, 3_000, 30, 100);
    await settle(store);
    const bus = embeddedBus();
    await bus.connect({ partitions: await getPartitionCount(store) });
    const relay = createRelay(store, { bus, batchSize: 500, registry: null, name: 'to-bus' });
    await relay.start();
    const published = (await store.head()).checkpoint;
    const relayAt = async () =>
      (
        await store.executor.query<{ checkpoint: string }>(
          `select checkpoint from ${q(store)}.relay_checkpoints where name = 'to-bus'`,
        )
      )[0]?.checkpoint ?? '0:0';
    await waitFor('the relay to publish', async () => compareCheckpoints(await relayAt(), published) >= 0);
    await relay.stop();
    await bus.close();
    // The relay stopped where it was; 3,000 more events wait for it.
    await fill(store, 3_000, 30, 100);
    await settle(store);
    const head = (await store.head()).checkpoint;
    const everything = await readAll(store);
    const at = await relayAt();
    expect(compareCheckpoints(at, head)).toBeLessThan(0);

    const strict = await rejection(archive(store, { before: head, to: dir, strict: true }));
    expect(strict.code).toBe(ErrorCodes.ARCHIVE_HELD_BACK);
    expect(strict.message).toContain('relay to-bus');
    expect(strict.details.holders).toEqual([{ kind: 'relay', name: 'to-bus', checkpoint: at }]);
    expect(await hotCount(store)).toBe(6_000);

    const lowered = await archive(store, { before: head, to: dir });
    expect(lowered.bound).toBe(at);
    expect(lowered.heldBy).toEqual([{ kind: 'relay', name: 'to-bus', checkpoint: at }]);
    expect(lowered.deleted).toBe(3_000);
    expect(await hotThrough(store, at)).toBe(0);
    expect(await hotCount(store)).toBe(3_000);
    expect(await readAll(store)).toEqual(everything);

    // Nothing more can go while it stands there, closed streams included.
    await store.closeStream('order-0');
    await settle(store);
    const refused = await rejection(archive(store, { before: head, to: dir }));
    expect(refused.code).toBe(ErrorCodes.ARCHIVE_HELD_BACK);
    expect(refused.message).toContain('relay to-bus');
    const closedRefused = await rejection(
      archive(store, { before: (await store.head()).checkpoint, to: dir, closedStreamsOnly: true }),
    );
    expect(closedRefused.code).toBe(ErrorCodes.ARCHIVE_HELD_BACK);
    expect(closedRefused.message).toContain('relay to-bus');
    expect(await hotCount(store)).toBe(3_001);
  });

  it('never passes a replay job, running or paused, and names it', async () => {
    const { store, dir } = await setup();
    await fill(store, 4_000, 40, 100);
    await settle(store);
    await store.executor.query(`create table ${q(store)}.seen (event_id uuid primary key)`);
    const seen = defineProjection({
      name: 'seen',
      handlers: {
        'order.paid': async (e, { query }) => {
          await query(`insert into ${q(store)}.seen (event_id) values ($1)`, [e.id]);
        },
      },
    });
    const replay: Replay = createReplay(store, { consumers: [seen], pollMs: 20 });
    cleanups.push(() => replay.stop());
    const head = (await store.head()).checkpoint;
    const everything = await readAll(store);
    const job = await replay.start({ kind: 'backfill', consumer: 'seen', maxEventsPerSecond: 500 });
    await waitFor('progress', async () => (await replay.get(job.id)).done >= 300);

    // Running: the run stops at the job's checkpoint (the job only moves forward meanwhile).
    const running = await archive(store, { before: head, to: dir });
    const jobHolder = running.heldBy.find((h) => h.kind === 'replay-job');
    expect(jobHolder?.name).toContain(job.id);
    expect(jobHolder?.name).toContain('backfill of seen');
    expect(compareCheckpoints(running.bound, (await replay.get(job.id)).checkpoint)).toBeLessThanOrEqual(0);
    expect(running.deleted).toBeGreaterThan(0);
    expect(running.deleted).toBeLessThan(4_000);
    expect(await hotThrough(store, running.bound)).toBe(0);

    // Paused: it holds the log where it stopped.
    await replay.pause(job.id);
    const paused = await replay.wait(job.id);
    expect(paused.state).toBe('paused');
    const strict = await rejection(archive(store, { before: head, to: dir, strict: true }));
    expect(strict.code).toBe(ErrorCodes.ARCHIVE_HELD_BACK);
    expect(strict.message).toContain(job.id);
    const second = await archive(store, { before: head, to: dir });
    expect(second.bound).toBe(paused.checkpoint);
    expect(second.heldBy.find((h) => h.kind === 'replay-job')).toMatchObject({
      checkpoint: paused.checkpoint,
    });
    const left = await hotCount(store);
    expect(left).toBe(
      everything.filter((e) => compareCheckpoints(e.checkpoint, paused.checkpoint) > 0).length,
    );

    // Resumed, the job reads on from the table and completes with every event applied once.
    await replay.resume(job.id);
    await replay.setRate(job.id, null);
    expect(await replay.wait(job.id)).toMatchObject({ state: 'completed' });
    const [n] = await store.executor.query<{ n: number }>(`select count(*)::int as n from ${q(store)}.seen`);
    expect(n!.n).toBe(everything.filter((e) => e.type === 'order.paid').length);
    expect(await readAll(store)).toEqual(everything);
  });
});
