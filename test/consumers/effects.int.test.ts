/* eslint-disable @typescript-eslint/require-await -- handlers and deliveries must return promises; these have nothing to await */
import { afterEach, describe, expect, it } from 'vitest';
import {
  createWorker,
  defineProjection,
  defineReactor,
  ErrorCodes,
  parkedEvents,
  type EventStore,
} from '../../src/index.js';
import { quoteIdent } from '../../src/store/names.js';
import { dropSchema, pgAvailable } from '../support/stores.js';
import { openPgStore, waitFor } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(): Promise<EventStore> {
  const store = await openPgStore();
  cleanups.push(async () => {
    await store.close();
    await dropSchema(store.schema);
  });
  return store;
}

describe.skipIf(!pgAvailable())('effect journal (PostgreSQL)', () => {
  it('never repeats a completed effect and retries a pending one with the same key', async () => {
    const store = await setup();
    const q = quoteIdent(store.schema);
    const [a, b, c] = await Promise.all(
      ['order-a', 'order-b', 'order-c'].map(async (s) => {
        await store.append(s, [{ type: 'order.paid', data: { amount: 10 } }]);
        return (await store.readStream(s))[0]!;
      }),
    );
    // As if a worker crashed: a's effect completed (journaled done), b's was in flight (pending).
    await store.executor.query(
      `insert into ${q}.effect_journal (consumer, event_id, effect, idempotency_key, status, result, completed_at)
       values ('mailer', $1, 'send', $2, 'done', '{"receipt":"r-a"}', now())`,
      [a!.id, `mailer:${a!.id}:send`],
    );
    await store.executor.query(
      `insert into ${q}.effect_journal (consumer, event_id, effect, idempotency_key, status) values ('mailer', $1, 'send', $2, 'pending')`,
      [b!.id, `mailer:${b!.id}:send`],
    );
    const sent: string[] = [];
    const results = new Map<string, unknown>();
    let failOnce = true;
    const mailer = defineReactor({
      name: 'mailer',
      handlers: {
        'order.paid': async (e, { effect }) => {
          const result = await effect('send', async (key) => {
            sent.push(key);
            return { receipt: `r-${e.stream.slice(-1)}` };
          });
          results.set(e.stream, result);
          // c fails once after its effect: the retry must not send again.
          if (e.stream === 'order-c' && failOnce) {
            failOnce = false;
            throw new Error('after the effect');
          }
        },
      },
    });
    const worker = createWorker(store, {
      from: 'log',
      consumers: [mailer],
      partitions: 2,
      retry: { baseDelayMs: 5 },
    });
    cleanups.push(() => worker.stop());
    await worker.start();
    await waitFor('done', async () => (await worker.health())[0]!.eventsBehind === 0);
    expect(sent.sort()).toEqual([`mailer:${b!.id}:send`, `mailer:${c!.id}:send`].sort());
    expect(results.get('order-a')).toEqual({ receipt: 'r-a' }); // the journaled result, without calling fn
    const rows = await store.executor.query<{ event_id: string; status: string; attempts: number }>(
      `select event_id, status, attempts from ${q}.effect_journal order by event_id`,
    );
    expect(rows.every((r) => r.status === 'done')).toBe(true);
    expect(rows.find((r) => r.event_id === b!.id)!.attempts).toBe(2);
    expect(rows.find((r) => r.event_id === c!.id)!.attempts).toBe(1);
  });
});

describe.skipIf(!pgAvailable())('effect results the journal cannot hold (PostgreSQL)', () => {
  it('records a marker, reports a typed error, and never performs the effect again', async () => {
    const store = await setup();
    const q = quoteIdent(store.schema);
    const cyclic: Record<string, unknown> = { ok: true };
    cyclic.self = cyclic;
    const returns: Record<string, () => unknown> = {
      'r-cycle': () => cyclic,
      'r-bigint': () => ({ amount: 10n }),
      'r-nul': () => ({ text: 'a\u0000b' }),
    };
    for (const s of Object.keys(returns)) await store.append(s, [{ type: 'order.paid', data: {} }]);
    const calls = new Map<string, number>();
    const seen = new Map<string, unknown[]>();
    let failFirst = true;
    const mailer = defineReactor({
      name: 'mailer',
      handlers: {
        'order.paid': async (e, { effect }) => {
          const result = await effect('send', async () => {
            calls.set(e.stream, (calls.get(e.stream) ?? 0) + 1);
            return returns[e.stream]!();
          });
          seen.set(e.stream, [...(seen.get(e.stream) ?? []), result]);
          // One handler fails after its effect: the retry must replay the journal, not call out again.
          if (e.stream === 'r-cycle' && failFirst) {
            failFirst = false;
            throw new Error('after the effect');
          }
        },
      },
    });
    const errors: Error[] = [];
    const worker = createWorker(store, {
      from: 'log',
      consumers: [mailer],
      partitions: 2,
      retry: { baseDelayMs: 5 },
      onError: (error) => errors.push(error),
    });
    cleanups.push(() => worker.stop());
    await worker.start();
    await waitFor('done', async () => (await worker.health())[0]!.eventsBehind === 0);
    expect(Object.fromEntries(calls)).toEqual({ 'r-cycle': 1, 'r-bigint': 1, 'r-nul': 1 });
    expect(seen.get('r-cycle')![0]).toBe(cyclic);
    expect(seen.get('r-cycle')![1]).toMatchObject({ 'eventlane:unserializable': expect.any(String) });
    const rows = await store.executor.query<{ status: string; result: Record<string, string> }>(
      `select status, result from ${q}.effect_journal order by event_id`,
    );
    expect(rows).toHaveLength(3);
    for (const r of rows) {
      expect(r.status).toBe('done');
      expect(r.result['eventlane:unserializable']).toMatch(/circular|BigInt|NUL/);
    }
    const reported = errors.filter((e) => (e as { code?: string }).code === ErrorCodes.HANDLER_CONTRACT);
    expect(reported).toHaveLength(3);
    expect(reported[0]!.message).toMatch(
      /effect "send" of consumer "mailer" returned a result that cannot be stored/,
    );
    expect((await parkedEvents(store).list({ status: ['parked', 'retrying'] })).length).toBe(0);
  });
});

describe.skipIf(!pgAvailable())('reactor parking (PostgreSQL)', () => {
  it('parks a reactor event, holds its stream, retries it in order without repeating done effects', async () => {
    const store = await setup();
    for (let i = 0; i < 40; i++) await store.append(`r-${i % 4}`, [{ type: 'order.paid', data: { i } }]);
    let broken = true;
    const calls: string[] = [];
    const seen = new Map<string, number[]>();
    const reactor = defineReactor({
      name: 'notifier',
      handlers: {
        'order.paid': async (e, { effect }) => {
          await effect('first', async (key) => void calls.push(key));
          if (broken && e.stream === 'r-1' && e.streamPosition === 3)
            throw new Error('downstream refuses r-1@3');
          await effect('second', async (key) => void calls.push(key));
          seen.set(e.stream, [...(seen.get(e.stream) ?? []), e.streamPosition]);
        },
      },
    });
    const worker = createWorker(store, {
      from: 'log',
      consumers: [reactor],
      partitions: 2,
      retry: { maxAttempts: 3, baseDelayMs: 5 },
      parkedPollMs: 50,
    });
    cleanups.push(() => worker.stop());
    await worker.start();
    const parked = parkedEvents(store);
    await waitFor('parked', async () => (await parked.list()).length === 1);
    await waitFor('others done', () => ['r-0', 'r-2', 'r-3'].every((s) => seen.get(s)?.length === 10));
    expect(seen.get('r-1')).toEqual([1, 2]);
    expect((await worker.health())[0]!.parked).toBe(1);
    broken = false;
    await parked.retry((await parked.list())[0]!.id);
    await waitFor('drained', async () => (await worker.health())[0]!.eventsBehind === 0);
    expect(seen.get('r-1')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // 'first' of r-1@3 ran once although the handler ran 4 times for it; every key was called exactly once.
    expect(calls.length).toBe(80);
    expect(new Set(calls).size).toBe(80);
  });
});

describe.skipIf(!pgAvailable())('handlers that break their contract (PostgreSQL)', () => {
  it('parks an event whose handler returns a non-promise or throws a non-error, with EVENTLANE_HANDLER_CONTRACT', async () => {
    const store = await setup();
    await store.append('x-1', [{ type: 'sync.thing', data: {} }]);
    await store.append('x-2', [{ type: 'throws.string', data: {} }]);
    const p = defineProjection({
      name: 'bad',
      handlers: {
        'sync.thing': (() => 42) as never,
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the contract breach under test
        'throws.string': () => Promise.reject('just a string'),
      },
    });
    const worker = createWorker(store, {
      from: 'log',
      consumers: [p],
      partitions: 2,
      retry: { maxAttempts: 2, baseDelayMs: 5 },
    });
    cleanups.push(() => worker.stop());
    await worker.start();
    const parked = parkedEvents(store);
    await waitFor('both parked', async () => (await parked.list()).length === 2);
    const list = await parked.list();
    expect(list.map((e) => e.errorCode)).toEqual([ErrorCodes.HANDLER_CONTRACT, ErrorCodes.HANDLER_CONTRACT]);
    expect(list.find((e) => e.stream === 'x-1')!.error).toContain('returned number 42, not a promise');
    expect(list.find((e) => e.stream === 'x-2')!.error).toContain(
      'threw the string "just a string", not an Error',
    );
    await expect(parked.retry('999999')).rejects.toMatchObject({ code: ErrorCodes.PARKED_EVENT_NOT_FOUND });
    await expect(parked.skip(list[0]!.id, { by: '' })).rejects.toMatchObject({
      code: ErrorCodes.INVALID_ARGUMENT,
    });
  });
});
