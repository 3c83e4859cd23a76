import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  archive,
  createEventStore,
  createProjections,
  createWorker,
  defineProjection,
  ErrorCodes,
  type EventStore,
} from '../../src/index.js';
import { runCli } from '../../src/cli/program.js';
import { SERVICES } from '../support/services.js';
import { pgAvailable } from '../support/stores.js';
import { scaled } from '../support/time.js';
import { readTable, summary } from '../projections/fixtures/model.js';
import { closeStore, openStore, q, settle, waitFor } from '../replay/helpers.js';
import { checkpointAt, fill, hotCount, readAll, tempDir } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<EventStore> {
  const store = await openStore();
  cleanups.push(() => closeStore(store));
  return store;
}

interface Details {
  archivedThrough?: number;
  segment?: string;
  holders?: { name: string }[];
}

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string; details: Details }> {
  try {
    await p;
  } catch (error) {
    return error as { code: string; message: string; details: Details };
  }
  throw new Error('expected a rejection');
}

describe.skipIf(!pgAvailable())('archive and read-through', () => {
  it('archives half of the log into checked segments; reads return the very same events', async () => {
    const store = await setup();
    const dir = tempDir(cleanups);
    await fill(store, 20_000);
    await settle(store);
    const before = await readAll(store);
    const half = await checkpointAt(store, 9_999);
    const result = await archive(store, { before: half, to: dir, segmentBytes: 256 * 1024 });
    expect(result).toMatchObject({ bound: half, exported: 10_000, deleted: 10_000, heldBy: [] });
    expect(result.segments.length).toBeGreaterThan(3);
    expect(await hotCount(store)).toBe(10_000);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.events).toBe(10_000);
    expect(manifest.range.last).toBe(half);
    expect(manifest.segments.map((s: { file: string }) => s.file)).toEqual(result.segments);

    expect(await readAll(store)).toEqual(before);
    expect(await readAll(store, 777)).toEqual(before);
    const page = await store.readLog({ after: before[4_321]!.checkpoint, limit: 100 });
    expect(page.events).toEqual(before.slice(4_322, 4_422));
    const shipped = [];
    for await (const e of store.iterateLog({ types: ['order.shipped'], pageSize: 1000 })) shipped.push(e);
    expect(shipped).toEqual(before.filter((e) => e.type === 'order.shipped'));
    // A filtered page stops at the archive's end; the next one goes on in the table.
    const first = await store.readLog({ streamPrefix: 'order-1', limit: 10_000 });
    expect(first.checkpoint).toBe(half);
    const next = await store.readLog({ streamPrefix: 'order-1', after: first.checkpoint, limit: 10_000 });
    expect([...first.events, ...next.events]).toEqual(before.filter((e) => e.stream.startsWith('order-1')));

    // readStream says where an archived stream's history lives, and reads it through when asked.
    const stream = before[0]!.stream;
    const history = before.filter((e) => e.stream === stream);
    const err = await rejection(store.readStream(stream));
    expect(err.code).toBe(ErrorCodes.STREAM_ARCHIVED);
    expect(err.message).toContain(result.segments[0]);
    expect(await store.readStream(stream, { archived: 'read' })).toEqual(history);
    expect(await store.readStream(stream, { archived: 'read', direction: 'backward', limit: 700 })).toEqual(
      history.slice().reverse().slice(0, 700),
    );
    const hotFrom = err.details.archivedThrough! + 1;
    expect(await store.readStream(stream, { from: hotFrom })).toEqual(
      history.filter((e) => e.streamPosition >= hotFrom),
    );
    // Command handling folds the whole history, archived part included.
    const { state } = await store.handle(stream, () => [], {
      initialState: () => 0,
      evolve: (n: number) => n + 1,
    });
    expect(state).toBe(history.length);
    // A second run with the same bound has nothing more to do.
    expect(await archive(store, { before: half, to: dir })).toMatchObject({ exported: 0, deleted: 0 });
  });

  it(
    'a projection rebuilt through the archive equals the one built before it (100k events)',
    async () => {
      const store = await setup();
      const dir = tempDir(cleanups);
      await fill(store, 100_000, 1_000, 100);
      await settle(store);
      const build = async (name: string) => {
        const def = summary(1, { batch: true, name, table: name });
        const p = createProjections(store, { projections: [def], schema: store.schema, pollMs: 10 });
        await p.start();
        await p.waitLive(name, scaled(120_000));
        await p.stop();
        return readTable(store, `${q(store)}.${name}`);
      };
      const hot = await build('sum_hot');
      expect(hot.size).toBe(1_000);
      const result = await archive(store, { before: await checkpointAt(store, 49_999), to: dir });
      expect(result.deleted).toBe(50_000);
      const through = await build('sum_archived');
      expect(through).toEqual(hot);
    },
    scaled(300_000),
  );

  it('a flipped byte in a segment is found and the segment named', async () => {
    const store = await setup();
    const dir = tempDir(cleanups);
    await fill(store, 6_000);
    await settle(store);
    const result = await archive(store, {
      before: await checkpointAt(store, 2_999),
      to: dir,
      segmentBytes: 64 * 1024,
    });
    const victim = result.segments[1]!;
    const bytes = readFileSync(join(dir, victim));
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(join(dir, victim), bytes);
    const reader = await createEventStore({ url: SERVICES.postgres.url, schema: store.schema });
    cleanups.push(() => reader.close());
    const err = await rejection(readAll(reader));
    expect(err.code).toBe(ErrorCodes.ARCHIVE_SEGMENT);
    expect(err.message).toContain(victim);
    expect(err.message).toContain('SHA-256');
    expect(err.details.segment).toBe(victim);
  });

  it('never passes a consumer: lowers the bound to where it stands and names it, or refuses', async () => {
    const store = await setup();
    const dir = tempDir(cleanups);
    await fill(store, 4_000, 40, 100);
    await settle(store);
    const seen = defineProjection({
      name: 'seen',
      handlers: {
        'order.created': () => Promise.resolve(),
        'order.paid': () => Promise.resolve(),
        'order.shipped': () => Promise.resolve(),
      },
    });
    const worker = createWorker(store, { from: 'log', consumers: [seen], partitions: 4 });
    await worker.start();
    await waitFor('the consumer to catch up', async () => (await worker.health())[0]!.eventsBehind === 0);
    await worker.stop();
    const caughtUp = (await store.head()).checkpoint;
    await fill(store, 4_000, 40, 100);
    await settle(store);
    const head = (await store.head()).checkpoint;

    // The command refuses with exit code 5 and names the consumer.
    let stderr = '';
    const code = await runCli(
      ['node', 'eventlane', 'archive', '--before', head, '--to', dir, '--strict', '--schema', store.schema],
      {
        out: () => undefined,
        err: (t) => (stderr += t),
        env: { DATABASE_URL: SERVICES.postgres.url },
        cwd: dir,
        exitCode: 0,
      },
    );
    process.exitCode = undefined;
    expect(code).toBe(5);
    expect(stderr).toContain('consumer seen');
    expect(stderr).toContain('hint:');
    const strict = await rejection(archive(store, { before: head, to: dir, strict: true }));
    expect(strict.code).toBe(ErrorCodes.ARCHIVE_HELD_BACK);
    expect(strict.message).toContain('consumer seen');
    expect(strict.details.holders!.map((h) => h.name)).toEqual(['seen']);
    expect(await hotCount(store)).toBe(8_000);

    const lowered = await archive(store, { before: head, to: dir });
    expect(lowered.bound).toBe(caughtUp);
    expect(lowered.heldBy).toEqual([{ kind: 'consumer', name: 'seen', checkpoint: caughtUp }]);
    expect(lowered.deleted).toBe(4_000);

    // Nothing more can go while it stands there: refused, naming it.
    const refused = await rejection(archive(store, { before: head, to: dir }));
    expect(refused.code).toBe(ErrorCodes.ARCHIVE_HELD_BACK);
    expect(refused.message).toContain('consumer seen');
    expect(await hotCount(store)).toBe(4_000);
  });

  it('refuses bad input with typed errors, leaving the store as it was', async () => {
    const store = await setup();
    const dir = tempDir(cleanups);
    await fill(store, 1_000);
    await settle(store);
    const future = await rejection(archive(store, { before: new Date(Date.now() + 3_600_000), to: dir }));
    expect(future.code).toBe(ErrorCodes.ARCHIVE_BOUND);
    expect(future.message).toContain('in the future');
    const past = await rejection(archive(store, { before: '999999999:999999999', to: dir }));
    expect(past.code).toBe(ErrorCodes.ARCHIVE_BOUND);
    const notBound = await rejection(archive(store, { before: 'yesterday', to: dir }));
    expect(notBound.code).toBe(ErrorCodes.INVALID_CHECKPOINT);
    const notFlag = await rejection(
      archive(store, { before: new Date(), to: dir, closedStreamsOnly: 'yes' as unknown as boolean }),
    );
    expect(notFlag.code).toBe(ErrorCodes.INVALID_ARGUMENT);

    const locked = join(dir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o500);
    cleanups.push(() => Promise.resolve(chmodSync(locked, 0o700)));
    if (process.getuid?.() !== 0) {
      const unwritable = await rejection(archive(store, { before: new Date(), to: join(locked, 'archive') }));
      expect(unwritable.code).toBe(ErrorCodes.ARCHIVE_TARGET);
      expect(unwritable.message).toContain(join(locked, 'archive'));
    }
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a directory');
    expect((await rejection(archive(store, { before: new Date(), to: file }))).code).toBe(
      ErrorCodes.ARCHIVE_TARGET,
    );

    const foreign = join(dir, 'foreign');
    mkdirSync(foreign);
    writeFileSync(
      join(foreign, 'manifest.json'),
      JSON.stringify({ formatVersion: 1, store: { id: 'another-store', schema: 'elsewhere' }, segments: [] }),
    );
    const other = await rejection(archive(store, { before: new Date(), to: foreign }));
    expect(other.code).toBe(ErrorCodes.ARCHIVE_TARGET);
    expect(other.message).toContain('another store');
    expect(other.message).toContain('another-store');
    expect(await hotCount(store)).toBe(1_000);

    // Once a store archived to a directory, it keeps that one.
    await archive(store, { before: await checkpointAt(store, 99), to: join(dir, 'mine') });
    const moved = await rejection(archive(store, { before: new Date(), to: join(dir, 'elsewhere') }));
    expect(moved.code).toBe(ErrorCodes.ARCHIVE_TARGET);
    expect(moved.message).toContain(join(dir, 'mine'));
  });
});
