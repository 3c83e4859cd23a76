/**
 * Tests that hold a PostgreSQL transaction open on purpose. The log's readability is cluster-wide (an open
 * transaction delays every log reader of every schema), so these run in the `serial` project: alone, after every
 * other file (vitest.config.ts).
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { NewEvent } from '../../src/index.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, storeTargets } from '../support/stores.js';
import { scaled } from '../support/time.js';

const ev = (type: string, data: Record<string, unknown> = {}): NewEvent => ({ type, data });

describe.skipIf(!storeTargets()[0]!.available)(
  'iterateLog while another transaction is open (PostgreSQL)',
  () => {
    it('waits for committed events that an older open transaction keeps unreadable, instead of stopping short', async () => {
      const store = await storeTargets()[0]!.open();
      const other = new pg.Client({ connectionString: SERVICES.postgres.url });
      await other.connect();
      let iteration: Promise<void> | undefined;
      let open = false;
      try {
        await store.append('it-1', [ev('x.a', { n: 1 })]);
        // Event 1 must be readable before the other transaction starts (another test file's transaction may still
        // delay it for a moment on a shared server).
        const deadline = Date.now() + scaled(20_000);
        while ((await store.readLog({ limit: 10 })).events.length < 1) {
          if (Date.now() > deadline) throw new Error('event 1 never became readable');
          await new Promise((r) => setTimeout(r, 20));
        }
        // An older transaction with an id, still open: events committed after it are not readable yet.
        await other.query('begin');
        open = true;
        await other.query('select pg_current_xact_id()');
        await store.append('it-1', [ev('x.a', { n: 2 }), ev('x.a', { n: 3 })]);

        const seen: number[] = [];
        let done = false;
        iteration = (async () => {
          for await (const e of store.iterateLog({ pageSize: 10 })) seen.push((e.data as { n: number }).n);
          done = true;
        })();
        const seenOne = Date.now() + scaled(10_000);
        while (seen.length < 1 && Date.now() < seenOne) await new Promise((r) => setTimeout(r, 10));
        // Still waiting a while after it read event 1: it does not stop short at the unreadable events.
        await new Promise((r) => setTimeout(r, 300));
        expect(done).toBe(false);
        expect(seen).toEqual([1]);
        await other.query('commit');
        open = false;
        await iteration;
        expect(seen).toEqual([1, 2, 3]);
      } finally {
        // The reader must be finished before its store is closed (else: "Cannot use a pool after calling end").
        if (open) await other.query('rollback').catch(() => undefined);
        await other.end();
        await iteration?.catch(() => undefined);
        await store.close();
        await dropSchema(store.schema);
      }
    });
  },
);
