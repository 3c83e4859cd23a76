import { afterEach, describe, expect, it } from 'vitest';
import { decodeCloudEvent } from '../../src/bus/cloudevents.js';
import { archive, type StoredEvent } from '../../src/index.js';
import { readPage } from '../../src/relay/read-page.js';
import { quoteIdent } from '../../src/store/names.js';
import { storeTargets } from '../support/stores.js';
import { checkpointAt, fill, hotCount, openTarget, readAll, tempDir } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`read-through (${target.name})`, () => {
    it('the log and the relay’s page reader read the archive, then the table', async () => {
      const store = await openTarget(target, cleanups);
      const dir = tempDir(cleanups);
      await fill(store, 3_000, 30, 100);
      let everything = await readAll(store);
      for (let i = 0; i < 200 && everything.length < 3_000; i++) {
        await new Promise((r) => setTimeout(r, 25));
        everything = await readAll(store);
      }
      const result = await archive(store, {
        before: await checkpointAt(store, 1_999),
        to: dir,
        segmentBytes: 32 * 1024,
      });
      expect(result.deleted).toBe(2_000);
      expect(await hotCount(store)).toBe(1_000);
      expect(await readAll(store, 333)).toEqual(everything);

      // A relay that starts now (no checkpoint) publishes the archived events too, encoded as from the table.
      const published: StoredEvent[] = [];
      let after = '0:0';
      for (;;) {
        const page = await readPage(
          store,
          quoteIdent(store.schema),
          'nats',
          16,
          { batchSize: 500, source: '/t' },
          after,
        );
        if (page.messages.length === 0) break;
        for (const m of page.messages) published.push(decodeCloudEvent(m.payload!));
        after = page.checkpoint;
      }
      expect(published).toEqual(everything);
    });
  });
}
