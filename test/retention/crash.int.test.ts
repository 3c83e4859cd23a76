import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compareCheckpoints, type EventStore } from '../../src/index.js';
import { exited, track } from '../support/processes.js';
import { SERVICES } from '../support/services.js';
import { pgAvailable } from '../support/stores.js';
import { scaled } from '../support/time.js';
import { closeStore, openStore, q, settle } from '../replay/helpers.js';
import { checkpointAt, fill, hotCount, readAll, tempDir } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** `eventlane archive` in a child process; `killAt` makes it kill -9 itself at that step. */
async function runArchive(
  store: EventStore,
  args: string[],
  killAt?: string,
): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  const child = track(
    spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'archive', '--schema', store.schema, '--json', ...args],
      {
        env: {
          ...process.env,
          DATABASE_URL: SERVICES.postgres.url,
          EVENTLANE_ARCHIVE_KILL_AT: killAt ?? '',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await exited(child);
  return { code: child.exitCode, signal: child.signalCode, out, err };
}

describe.skipIf(!pgAvailable())('an archive run killed at any step, then run again', () => {
  for (const point of ['export', 'verify', 'delete:2', 'deleted']) {
    it(
      `kill -9 at ${point}: the rerun completes, nothing lost, nothing twice, manifest consistent`,
      async () => {
        const store = await openStore();
        cleanups.push(() => closeStore(store));
        const dir = tempDir(cleanups);
        await fill(store, 12_000, 100, 100);
        await settle(store);
        const everything = await readAll(store);
        const bound = await checkpointAt(store, 8_999);
        const args = ['--before', bound, '--to', dir, '--segment-bytes', String(1024 * 1024)];

        const killed = await runArchive(store, args, point);
        expect(killed.signal, killed.err).toBe('SIGKILL');
        // The kill came where it was asked: a file not recorded yet, or a deletion half done.
        const recorded = await store.executor.query<{ file: string }>(
          `select file from ${q(store)}.archive_segments`,
        );
        const onDisk = readdirSync(dir).filter((f) => f.startsWith('seg-'));
        if (point === 'export') expect(onDisk.length).toBe(recorded.length + 1);
        const left = await hotCount(store);
        if (point.startsWith('delete')) {
          expect(left).toBeLessThan(12_000);
          expect(left).toBeGreaterThan(3_000);
        } else expect(left).toBe(12_000);
        // Whatever the step, every event is still readable, once.
        expect(await readAll(store)).toEqual(everything);

        const rerun = await runArchive(store, args);
        expect(rerun.code, rerun.err).toBe(0);
        const result = JSON.parse(rerun.out);
        expect(result).toMatchObject({ bound, archivedThrough: bound, archivedEvents: 9_000 });

        expect(await readAll(store)).toEqual(everything);
        expect(await hotCount(store)).toBe(3_000);
        const states = await store.executor.query<{ state: string; n: number }>(
          `select state, count(*)::int as n from ${q(store)}.archive_segments group by state`,
        );
        expect(states.map((s) => s.state)).toEqual(['deleted']);
        const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
        expect(manifest.events).toBe(9_000);
        expect(manifest.range).toEqual({ first: everything[0]!.checkpoint, last: bound });
        const files = readdirSync(dir)
          .filter((f) => f !== 'manifest.json')
          .sort();
        expect(files).toEqual(manifest.segments.map((s: { file: string }) => s.file).sort());
        let previous: string | null = null;
        for (const s of manifest.segments) {
          const sha = createHash('sha256')
            .update(readFileSync(join(dir, s.file)))
            .digest('hex');
          expect(sha).toBe(s.sha256);
          expect(s.deletedFromStore).toBe(true);
          if (previous !== null) expect(compareCheckpoints(s.first, previous)).toBeGreaterThan(0);
          previous = s.last;
        }
      },
      scaled(180_000),
    );
  }
});

describe.skipIf(!pgAvailable())('an archive run of closed streams killed at any step, then run again', () => {
  for (const point of ['export', 'verify', 'delete:2', 'deleted']) {
    it(
      `kill -9 at ${point}: the rerun completes, only closed streams left the table, nothing lost or twice`,
      async () => {
        const store = await openStore();
        cleanups.push(() => closeStore(store));
        const dir = tempDir(cleanups);
        await fill(store, 12_000, 100, 100);
        const closed = Array.from({ length: 50 }, (_, i) => `order-${i * 2}`);
        for (const s of closed) await store.closeStream(s);
        await settle(store);
        const everything = await readAll(store);
        const total = everything.length;
        const closedEvents = everything.filter((e) => closed.includes(e.stream)).length;
        expect(closedEvents).toBe(50 * 121);
        const bound = (await store.head()).checkpoint;
        const args = ['--before', bound, '--to', dir, '--closed-streams-only', '--segment-bytes', '262144'];

        const killed = await runArchive(store, args, point);
        expect(killed.signal, killed.err).toBe('SIGKILL');
        const left = await hotCount(store);
        if (point.startsWith('delete')) {
          expect(left).toBeLessThan(total);
          expect(left).toBeGreaterThan(total - closedEvents);
        } else expect(left).toBe(total);
        expect(await readAll(store)).toEqual(everything);

        const rerun = await runArchive(store, args);
        expect(rerun.code, rerun.err).toBe(0);
        expect(JSON.parse(rerun.out)).toMatchObject({ archivedEvents: closedEvents });
        expect(await readAll(store)).toEqual(everything);
        expect(await hotCount(store)).toBe(total - closedEvents);
        const [stray] = await store.executor.query<{ n: number }>(
          `select count(*)::int as n from ${q(store)}.events where stream = any($1::text[])`,
          [closed],
        );
        expect(stray!.n).toBe(0);
        const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
        expect(manifest.events).toBe(closedEvents);
        const files = readdirSync(dir)
          .filter((f) => f !== 'manifest.json')
          .sort();
        expect(files).toEqual(manifest.segments.map((s: { file: string }) => s.file).sort());
        for (const s of manifest.segments) {
          expect(s).toMatchObject({ scope: 'closed-streams', deletedFromStore: true });
          const sha = createHash('sha256')
            .update(readFileSync(join(dir, s.file)))
            .digest('hex');
          expect(sha).toBe(s.sha256);
        }
        const again = await runArchive(store, args);
        expect(again.code, again.err).toBe(0);
        expect(JSON.parse(again.out)).toMatchObject({
          exported: 0,
          deleted: 0,
          archivedEvents: closedEvents,
        });
      },
      scaled(180_000),
    );
  }
});
