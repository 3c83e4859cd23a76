import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  archive,
  createProjections,
  ErrorCodes,
  type EventStore,
  type StoredEvent,
} from '../../src/index.js';
import { runCli } from '../../src/cli/program.js';
import { SERVICES } from '../support/services.js';
import { pgAvailable } from '../support/stores.js';
import { compareCheckpoints } from '../../src/store/names.js';
import { scaled } from '../support/time.js';
import { readTable, summary } from '../projections/fixtures/model.js';
import { closeStore, openStore, q, settle } from '../replay/helpers.js';
import { hotCount, readAll, tempDir } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const TYPES = ['order.created', 'order.paid', 'order.shipped'];

/** `rounds` rounds of `perAppend` events to each of `streams`, so that the streams' events interleave in the log. */
async function interleave(
  store: EventStore,
  streams: string[],
  rounds: number,
  perAppend = 5,
): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    for (const s of streams) {
      await store.append(
        s,
        Array.from({ length: perAppend }, (_, k) => ({ type: TYPES[(r + k) % 3]!, data: { r, k, s } })),
      );
    }
  }
}

async function tableStreams(store: EventStore): Promise<Map<string, number>> {
  const rows = await store.executor.query<{ stream: string; n: number }>(
    `select stream, count(*)::int as n from ${q(store)}.events group by stream`,
  );
  return new Map(rows.map((r) => [r.stream, r.n]));
}

function countBy(events: readonly StoredEvent[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of events) m.set(e.stream, (m.get(e.stream) ?? 0) + 1);
  return m;
}

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error('expected a rejection');
}

describe.skipIf(!pgAvailable())('archive --closed-streams-only', () => {
  it(
    'moves only whole closed streams; open streams stay; reads, stream reads and rebuilds read through',
    async () => {
      const store = await openStore();
      cleanups.push(() => closeStore(store));
      const dir = tempDir(cleanups);
      const streams = Array.from({ length: 24 }, (_, i) => `order-${i}`);
      await interleave(store, streams, 40);
      // Even streams are closed before the bound; order-1 is closed after it (its final event is past the bound,
      // so it stays whole in the table), the other odd streams stay open.
      const closed = streams.filter((_, i) => i % 2 === 0);
      for (const s of closed) await store.closeStream(s);
      await interleave(
        store,
        streams.filter((_, i) => i % 2 === 1),
        5,
      );
      await settle(store);
      const bound = (await store.head()).checkpoint;
      await interleave(
        store,
        streams.filter((_, i) => i % 2 === 1),
        5,
      );
      await store.closeStream('order-1');
      await settle(store);

      const before = await readAll(store);
      const beforeBy = countBy(before);
      const closedEvents = closed.reduce((n, s) => n + beforeBy.get(s)!, 0);
      expect(closedEvents).toBe(12 * (40 * 5 + 1));
      const build = async (name: string) => {
        const def = summary(1, { batch: true, name, table: name });
        const p = createProjections(store, { projections: [def], schema: store.schema, pollMs: 10 });
        await p.start();
        await p.waitLive(name, scaled(60_000));
        await p.stop();
        return readTable(store, `${q(store)}.${name}`);
      };
      const hot = await build('sum_hot');
      expect(hot.size).toBe(24);

      const result = await archive(store, {
        before: bound,
        to: dir,
        closedStreamsOnly: true,
        segmentBytes: 64 * 1024,
      });
      expect(result).toMatchObject({ exported: closedEvents, deleted: closedEvents, heldBy: [] });
      expect(result.segments.length).toBeGreaterThan(2);
      // Only the closed streams' events left the table, all of them; open streams and order-1 are untouched.
      expect(await hotCount(store)).toBe(before.length - closedEvents);
      const left = await tableStreams(store);
      for (const s of closed) expect(left.has(s)).toBe(false);
      for (const s of streams.filter((_, i) => i % 2 === 1)) expect(left.get(s)).toBe(beforeBy.get(s));
      const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
      expect(manifest.events).toBe(closedEvents);
      expect(new Set(manifest.segments.map((g: { scope: string }) => g.scope))).toEqual(
        new Set(['closed-streams']),
      );

      // The log reads the same, whatever the page size, filtered or not.
      expect(await readAll(store)).toEqual(before);
      expect(await readAll(store, 97)).toEqual(before);
      const page = await store.readLog({ after: before[1_000]!.checkpoint, limit: 250 });
      expect(page.events).toEqual(before.slice(1_001, 1_251));
      const paid: StoredEvent[] = [];
      for await (const e of store.iterateLog({ types: ['order.paid'], pageSize: 100 })) paid.push(e);
      expect(paid).toEqual(before.filter((e) => e.type === 'order.paid'));
      const prefixed: StoredEvent[] = [];
      for await (const e of store.iterateLog({ streamPrefix: 'order-2', pageSize: 100 })) prefixed.push(e);
      expect(prefixed).toEqual(before.filter((e) => e.stream.startsWith('order-2')));

      // A closed stream's history is in the archive: readStream says so, and reads it through.
      const history = before.filter((e) => e.stream === 'order-4');
      expect((await rejection(store.readStream('order-4'))).code).toBe(ErrorCodes.STREAM_ARCHIVED);
      expect(await store.readStream('order-4', { archived: 'read' })).toEqual(history);
      expect(await store.readStream('order-3')).toEqual(before.filter((e) => e.stream === 'order-3'));
      expect((await rejection(store.append('order-4', [{ type: 'order.paid', data: {} }]))).code).toBe(
        ErrorCodes.STREAM_CLOSED,
      );

      // A projection rebuilt now reads the closed streams from the archive and equals the one built before.
      expect(await build('sum_through')).toEqual(hot);

      // A rerun adds nothing (the CLI takes the flag).
      let out = '';
      const code = await runCli(
        [
          'node',
          'eventlane',
          'archive',
          '--before',
          bound,
          '--to',
          dir,
          '--closed-streams-only',
          '--json',
          '--schema',
          store.schema,
        ],
        {
          out: (t) => (out += t),
          err: () => undefined,
          env: { DATABASE_URL: SERVICES.postgres.url },
          cwd: dir,
          exitCode: 0,
        },
      );
      process.exitCode = undefined;
      expect(code).toBe(0);
      expect(JSON.parse(out)).toMatchObject({ exported: 0, deleted: 0, archivedEvents: closedEvents });
      expect(await hotCount(store)).toBe(before.length - closedEvents);

      // A later run by checkpoint takes the open streams' events up to the same bound, around the closed ones.
      const rest = await archive(store, { before: bound, to: dir });
      const upToBound = before.filter((e) => compareCheckpoints(e.checkpoint, bound) <= 0);
      const openUpToBound = upToBound.filter((e) => !closed.includes(e.stream)).length;
      expect(rest).toMatchObject({ exported: openUpToBound, deleted: openUpToBound });
      expect(await hotCount(store)).toBe(before.length - closedEvents - openUpToBound);
      expect(await readAll(store)).toEqual(before);
      expect(await readAll(store, 333)).toEqual(before);
      expect(await store.readStream('order-4', { archived: 'read' })).toEqual(history);
      expect(await store.readStream('order-3', { archived: 'read' })).toEqual(
        before.filter((e) => e.stream === 'order-3'),
      );
      expect(await build('sum_after_log_run')).toEqual(hot);
    },
    scaled(180_000),
  );
});
