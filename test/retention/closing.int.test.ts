import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  CLOSES_STREAM,
  createEventStore,
  defineEvent,
  ErrorCodes,
  isEventlaneError,
  listClosedStreams,
  STREAM_CLOSED_TYPE,
  StreamClosedError,
  streamClosedAt,
  type EventStore,
} from '../../src/index.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, logState, storeTargets, uniqueSchema } from '../support/stores.js';

const ev = (type: string, data: Record<string, unknown> = {}) => ({ type, data });

async function refusal(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected the append to be refused');
    },
    (e: unknown) => e,
  );
}

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`closed streams on ${target.name}`, () => {
    let store: EventStore;
    beforeAll(async () => {
      store = await target.open();
    });
    afterAll(async () => {
      await store?.close();
      if (target.name === 'pg') await dropSchema(store.schema);
    });

    it('closes with a tombstone and refuses every later append, whatever its expected version', async () => {
      await store.append('account-1', [ev('account.opened'), ev('account.credited', { amount: 5 })]);
      const closed = await store.closeStream('account-1', { expectedVersion: 2 });
      expect(closed.streamVersion).toBe(3);
      expect(closed.closedAt).toBeInstanceOf(Date);
      const before = await logState(store);
      for (const expectedVersion of ['any', 'stream_exists', 3, 0, 'no_stream'] as const) {
        const error = await refusal(store.append('account-1', [ev('account.credited')], { expectedVersion }));
        if (expectedVersion === 0 || expectedVersion === 'no_stream') {
          // The stream exists: a no-stream expectation is a plain conflict, still nothing written.
          expect(isEventlaneError(error)).toBe(true);
          continue;
        }
        expect(error).toBeInstanceOf(StreamClosedError);
        expect(isEventlaneError(error, ErrorCodes.STREAM_CLOSED)).toBe(true);
        const e = error as StreamClosedError;
        expect(e.message).toContain('"account-1"');
        expect(e.message).toContain(closed.closedAt.toISOString());
        expect(e.closedAt.getTime()).toBe(closed.closedAt.getTime());
      }
      // Closing again is an append to a closed stream too.
      expect(isEventlaneError(await refusal(store.closeStream('account-1')), ErrorCodes.STREAM_CLOSED)).toBe(
        true,
      );
      expect(await logState(store)).toEqual(before);

      const events = await store.readStream('account-1');
      expect(events.map((e) => e.type)).toEqual(['account.opened', 'account.credited', STREAM_CLOSED_TYPE]);
      expect(events.at(-1)!.metadata[CLOSES_STREAM]).toBe(true);
      expect((await streamClosedAt(store, 'account-1'))?.getTime()).toBe(closed.closedAt.getTime());
      expect(await streamClosedAt(store, 'account-2')).toBeNull();
    });

    it('refuses inside a transaction without breaking it; other streams still take appends', async () => {
      await store.closeStream('account-tx');
      const outcome = await store.transaction(async (tx) => {
        const error = await refusal(tx.append('account-tx', [ev('account.credited')]));
        await tx.append('account-other', [ev('account.opened')]);
        return error;
      });
      expect(isEventlaneError(outcome, ErrorCodes.STREAM_CLOSED)).toBe(true);
      expect(await store.streamVersion('account-other')).toBe(1);
      expect(await store.streamVersion('account-tx')).toBe(1);
    });

    it('a close whose expected version fails closes nothing', async () => {
      await store.append('account-late', [ev('account.opened')]);
      const error = await refusal(store.closeStream('account-late', { expectedVersion: 7 }));
      expect(isEventlaneError(error, ErrorCodes.CONCURRENCY)).toBe(true);
      expect(await streamClosedAt(store, 'account-late')).toBeNull();
      await store.append('account-late', [ev('account.credited')], { expectedVersion: 1 });
    });

    it('lists closed streams for the archive: by time, prefix and page', async () => {
      const cut = new Date();
      await new Promise((r) => setTimeout(r, 20));
      await store.closeStream('cart-1');
      await store.closeStream('cart-2');
      const all = await listClosedStreams(store);
      expect(all.map((s) => s.stream)).toEqual(['account-1', 'account-tx', 'cart-1', 'cart-2']);
      expect(all[0]).toMatchObject({ stream: 'account-1', version: 3 });
      const older = await listClosedStreams(store, { closedBefore: cut });
      expect(older.map((s) => s.stream)).toEqual(['account-1', 'account-tx']);
      expect((await listClosedStreams(store, { streamPrefix: 'cart-' })).map((s) => s.stream)).toEqual([
        'cart-1',
        'cart-2',
      ]);
      const page = await listClosedStreams(store, { after: 'account-tx', limit: 1 });
      expect(page.map((s) => s.stream)).toEqual(['cart-1']);
      await expect(listClosedStreams(store, { limit: 0 })).rejects.toMatchObject({
        code: ErrorCodes.INVALID_ARGUMENT,
      });
    });

    it('takes a caller final event, validated by the contracts, marked as the closing one', async () => {
      const AccountClosed = defineEvent({
        type: 'account.closed',
        owner: 'accounts',
        versions: { 1: z.object({ reason: z.string() }) },
      });
      const typed = await createEventStore({
        ...(target.name === 'pg' ? { url: SERVICES.postgres.url, schema: uniqueSchema() } : {}),
        events: [AccountClosed],
      });
      try {
        const bad = await refusal(
          typed.closeStream('account-9', { event: { type: 'account.closed', data: { reason: 3 } } }),
        );
        expect(isEventlaneError(bad, ErrorCodes.SCHEMA_VALIDATION)).toBe(true);
        expect(await streamClosedAt(typed, 'account-9')).toBeNull();
        await typed.closeStream('account-9', { event: AccountClosed.create({ reason: 'moved away' }) });
        const [last] = await typed.readStream('account-9');
        expect(last).toMatchObject({ type: 'account.closed', data: { reason: 'moved away' } });
        expect(last!.metadata[CLOSES_STREAM]).toBe(true);
        // The tombstone is eventlane's own type, taken even where undeclared types are refused.
        await typed.closeStream('account-10');
        expect(await streamClosedAt(typed, 'account-10')).toBeInstanceOf(Date);
      } finally {
        await typed.close();
        if (target.name === 'pg') await dropSchema(typed.schema);
      }
    });
  });
}
