/* eslint-disable @typescript-eslint/require-await -- handlers must return promises; some have nothing to await */
// Hostile handler behaviour end to end, against real PostgreSQL, from the log (and once through NATS JetStream): error text PostgreSQL cannot store
// (NUL), non-Error throws, a failure row that cannot be written, and event types named like Object.prototype members.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { natsBus } from '../../src/bus/nats/index.js';
import {
  createProjections,
  createRelay,
  createWorker,
  defineProjection,
  defineReactor,
  ErrorCodes,
  isEventlaneError,
  parkedEvents,
  type EventStore,
  type ProjectionHandler,
  type Projections,
  type Worker,
} from '../../src/index.js';
import { quoteIdent } from '../../src/store/names.js';
import { openPgStore, waitFor } from '../consumers/helpers.js';
import { cleanupBus } from '../relay/support/buses.js';
import { SERVICES } from '../support/services.js';
import { dropSchema } from '../support/stores.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(): Promise<{ store: EventStore; q: string }> {
  const store = await openPgStore();
  cleanups.push(async () => {
    await store.close();
    await dropSchema(store.schema);
  });
  return { store, q: quoteIdent(store.schema) };
}

function track<T extends Worker | Projections>(w: T): T {
  cleanups.push(() => w.stop());
  return w;
}

const RETRY = { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 };

/** An Error whose message and stack hold a NUL and an unpaired surrogate, as a driver or a C library may produce. */
function nulError(): Error {
  const error = new Error('bad\u0000byte \ud800 in message');
  error.stack = `Error: bad\u0000byte\n    at somewhere (file.js:1:1)\u0000`;
  (error as { code?: string }).code = 'E\u0000CODE';
  return error;
}

describe('a handler error PostgreSQL cannot store as text', () => {
  it('is retried per policy and parked with sanitised text; other streams go on (projection and reactor)', async () => {
    const { store } = await setup();
    const calls = new Map<string, number>();
    // A Set: a projection's handlers run again when its transaction is rolled back for a failure in the same batch.
    const applied = new Set<string>();
    const handle = (consumer: string) => async (e: { stream: string; streamPosition: number }) => {
      const key = `${consumer}:${e.stream}`;
      calls.set(key, (calls.get(key) ?? 0) + 1);
      if (e.stream === 'nul-error') throw nulError();
      // A non-Error throw (a string holding a NUL): a contract breach that must be stored readably too.
      if (e.stream === 'nul-string') throw 'thrown\u0000string' as unknown as Error;
      applied.add(`${key}@${e.streamPosition}`);
    };
    const projection = defineProjection({ name: 'nul_proj', handlers: { 'item.added': handle('p') } });
    const reactor = defineReactor({ name: 'nul_reactor', handlers: { 'item.added': handle('r') } });
    const errors: Error[] = [];
    const worker = track(
      createWorker(store, {
        from: 'log',
        consumers: [projection, reactor],
        partitions: 2,
        retry: RETRY,
        parkedPollMs: 50,
        onError: (e) => errors.push(e),
      }),
    );
    await worker.start();
    for (const stream of ['ok-1', 'nul-error', 'ok-2', 'nul-string', 'ok-3']) {
      await store.append(stream, [
        { type: 'item.added', data: { n: 1 } },
        { type: 'item.added', data: { n: 2 } },
      ]);
    }
    const parked = parkedEvents(store);
    await waitFor('four parked events', async () => (await parked.list()).length === 4, 30_000);
    await waitFor('the other streams applied', () => applied.size === 12, 30_000);

    const rows = await parked.list();
    for (const row of rows) {
      expect(row).toMatchObject({ status: 'parked', attempts: 3, streamPosition: 1 });
      expect(row.error).not.toContain('\u0000');
      expect(row.stack ?? '').not.toContain('\u0000');
      expect(row.errorCode ?? '').not.toContain('\u0000');
    }
    const byKey = new Map(rows.map((r) => [`${r.consumer}:${r.stream}`, r]));
    for (const consumer of ['nul_proj', 'nul_reactor']) {
      const e = byKey.get(`${consumer}:nul-error`)!;
      expect(e.error).toBe('bad\\0byte \ufffd in message');
      expect(e.stack).toContain('at somewhere (file.js:1:1)');
      expect(e.errorCode).toBe('E\\0CODE');
      const s = byKey.get(`${consumer}:nul-string`)!;
      expect(s.errorCode).toBe(ErrorCodes.HANDLER_CONTRACT);
      expect(s.error).toContain('thrown\\u0000string');
    }
    // Retried per policy, not spun: each poison event ran exactly maxAttempts times.
    for (const key of ['p:nul-error', 'p:nul-string', 'r:nul-error', 'r:nul-string']) {
      expect(calls.get(key)).toBe(3);
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(calls.get('p:nul-error')).toBe(3);
    const [p, r] = await worker.health();
    expect(p!.parked).toBe(2);
    expect(r!.parked).toBe(2);
    // An operator's skip reason is stored the same way.
    const skipped = await parked.skip(byKey.get('nul_proj:nul-error')!.id, {
      by: 'al\u0000ice',
      reason: 'bad\u0000data',
    });
    expect(skipped).toMatchObject({ status: 'skipped', skippedBy: 'al\\0ice', skipReason: 'bad\\0data' });
    // Nothing about storing the failures reached onError: they were recorded.
    expect(errors.filter((e) => !isEventlaneError(e, ErrorCodes.HANDLER_CONTRACT))).toEqual([]);
  });

  it('a failure row that cannot be written backs off (growing, typed onError) and parks once it can', async () => {
    const { store, q } = await setup();
    // A real database refusing the write: a trigger on the failure table (as a full disk or a lost permission would).
    await store.executor.exec(
      `create function ${q}.refuse() returns trigger language plpgsql as $$
       begin raise exception 'failure table unavailable' using errcode = '53100'; end $$;
       create trigger refuse before insert or update on ${q}.parked_events for each row execute function ${q}.refuse();`,
    );
    const times: number[] = [];
    const projection = defineProjection({
      name: 'refused',
      handlers: {
        'item.added': async () => {
          times.push(Date.now());
          throw new Error('always fails');
        },
      },
    });
    const errors: Error[] = [];
    const worker = track(
      createWorker(store, {
        from: 'log',
        consumers: [projection],
        partitions: 1,
        retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
        parkedPollMs: 50,
        onError: (e) => errors.push(e),
      }),
    );
    await worker.start();
    await store.append('s-1', [{ type: 'item.added', data: {} }]);
    await waitFor('three failed attempts to record', () => errors.length >= 3 && times.length >= 3, 90_000);
    expect(errors[0]).toMatchObject({
      code: ErrorCodes.FAILURE_NOT_RECORDED,
      details: { consumer: 'refused', stream: 's-1', streamPosition: 1 },
    });
    expect(errors[0]!.message).toContain('always fails');
    expect(errors[0]!.message).toContain('failure table unavailable');
    // Bounded, growing delays between attempts, not cut short by the parked-event poll: not a hot loop.
    expect(
      errors.slice(0, 3).map((e) => (e as { details?: { retryInMs?: number } }).details?.retryInMs),
    ).toEqual([500, 1000, 2000]);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(500);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(1000);

    await store.executor.exec(`drop trigger refuse on ${q}.parked_events`);
    const parked = parkedEvents(store);
    await waitFor('parked once it can be recorded', async () => (await parked.list()).length === 1, 30_000);
    expect((await parked.list())[0]).toMatchObject({ consumer: 'refused', error: 'always fails' });
  });
});

describe('a database that refuses the storable text', () => {
  it('records the failure with ASCII-only text rather than not at all', async () => {
    const { store, q } = await setup();
    // As a database whose encoding cannot hold these characters would (22P05 untranslatable_character).
    await store.executor.exec(
      `create function ${q}.ascii_only() returns trigger language plpgsql as $$
       begin
         if new.error ~ '[^ -~]' then raise exception 'untranslatable' using errcode = '22P05'; end if;
         return new;
       end $$;
       create trigger ascii_only before insert or update on ${q}.parked_events for each row execute function ${q}.ascii_only();`,
    );
    const projection = defineProjection({
      name: 'latin',
      handlers: {
        'item.added': async () => {
          throw new Error('naïve 😀 failure');
        },
      },
    });
    const errors: Error[] = [];
    await track(
      createWorker(store, {
        from: 'log',
        consumers: [projection],
        partitions: 1,
        retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
        onError: (e) => errors.push(e),
      }),
    ).start();
    await store.append('s-1', [{ type: 'item.added', data: {} }]);
    const parked = parkedEvents(store);
    await waitFor('parked', async () => (await parked.list()).length === 1, 30_000);
    expect((await parked.list())[0]).toMatchObject({
      attempts: 2,
      error: 'na\\u00efve \\ud83d\\ude00 failure',
    });
    expect(errors).toEqual([]);
  });
});

const PROTOTYPE_NAMES = [
  'constructor',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
];

describe('event types named like Object.prototype members', () => {
  it('are skipped by consumers without a handler and run by one that has it (worker from the log)', async () => {
    const { store } = await setup();
    const seen: string[] = [];
    const projection = defineProjection({
      name: 'proto_proj',
      handlers: { 'item.added': async (e) => void seen.push(`p:${e.stream}`) },
    });
    const reactor = defineReactor({
      name: 'proto_reactor',
      handlers: { 'item.added': async (e) => void seen.push(`r:${e.stream}`) },
    });
    // Typed apart: TypeScript gives a `constructor` key of an object literal no contextual type.
    const onConstructor: ProjectionHandler = async (e) => void seen.push(`c:${e.stream}`);
    const ctor = defineProjection({ name: 'ctor_proj', handlers: { constructor: onConstructor } });
    const worker = track(
      createWorker(store, {
        from: 'log',
        consumers: [projection, reactor, ctor],
        partitions: 2,
        retry: RETRY,
      }),
    );
    await worker.start();
    for (const type of PROTOTYPE_NAMES) {
      await store.append(`proto-${type}`, [
        { type, data: {} },
        { type: 'item.added', data: {} },
      ]);
    }
    // Waits on what was handled (lag alone can read 0 while another transaction on the cluster holds the log back).
    const count = (prefix: string) => seen.filter((s) => s.startsWith(prefix)).length;
    await waitFor(
      'every item.added handled',
      () => count('p:') === PROTOTYPE_NAMES.length && count('r:') === PROTOTYPE_NAMES.length,
      60_000,
    );
    await waitFor('every consumer caught up', async () =>
      (await worker.health()).every((h) => h.eventsBehind === 0),
    );
    expect(await parkedEvents(store).list({ status: ['retrying', 'parked'] })).toEqual([]);
    const expected = PROTOTYPE_NAMES.map((t) => `proto-${t}`).sort();
    const of = (prefix: string) =>
      seen
        .filter((s) => s.startsWith(prefix))
        .map((s) => s.slice(2))
        .sort();
    expect(of('p:')).toEqual(expected);
    expect(of('r:')).toEqual(expected);
    expect(seen.filter((s) => s.startsWith('c:'))).toEqual(['c:proto-constructor']);
  });

  it('are skipped by a versioned projection without a handler, run by one with it (createProjections)', async () => {
    const { store, q } = await setup();
    const readSchema = store.schema;
    const onConstructor: ProjectionHandler = async (e, { query, tables }) => {
      await query(`insert into ${tables.proto_seen} values ($1, $2)`, [e.stream, e.type]);
    };
    const projection = defineProjection({
      name: 'proto_versioned',
      tables: { proto_seen: 'create table :TABLE: (stream text, type text)' },
      handlers: {
        'item.added': async (e, { query, tables }) => {
          await query(`insert into ${tables.proto_seen} values ($1, $2)`, [e.stream, e.type]);
        },
        constructor: onConstructor,
      },
    });
    const errors: Error[] = [];
    const projections = track(
      createProjections(store, {
        projections: [projection],
        schema: readSchema,
        onError: (e) => errors.push(e),
      }),
    );
    for (const type of PROTOTYPE_NAMES) {
      await store.append(`proto-${type}`, [
        { type, data: {} },
        { type: 'item.added', data: {} },
      ]);
    }
    await projections.start();
    const read = () =>
      store.executor.query<{ stream: string; type: string }>(
        `select stream, type from ${q}.proto_seen__v1 order by stream, type`,
      );
    // Waits on the rows of the version's table (the stable view appears at the switch): waitLive can resolve early
    // while another transaction on the cluster holds the log back.
    await waitFor(
      'every event applied, or an error',
      async () => errors.length > 0 || (await read()).length === PROTOTYPE_NAMES.length + 1,
      60_000,
    );
    expect(errors).toEqual([]);
    await projections.waitLive('proto_versioned', 30_000);
    const rows = await read();
    const expected = PROTOTYPE_NAMES.flatMap((t) =>
      t === 'constructor'
        ? [
            { stream: `proto-${t}`, type: 'constructor' },
            { stream: `proto-${t}`, type: 'item.added' },
          ]
        : [{ stream: `proto-${t}`, type: 'item.added' }],
    ).sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : a.type < b.type ? -1 : 1));
    expect(rows).toEqual(expected);
  });
});

describe.skipIf(!inject('services').postgres || !inject('services').nats)('through NATS JetStream', () => {
  it('a NUL in a handler error parks; prototype-named types are skipped; every other event applies', async () => {
    const { store } = await setup();
    const suffix = randomBytes(4).toString('hex');
    const streamName = `EL_HOSTILE_${suffix}`;
    cleanups.push(() => cleanupBus('nats', streamName));
    const bus = () =>
      natsBus({
        servers: SERVICES.nats.url,
        stream: streamName,
        subjectPrefix: `elh${suffix}`,
        storage: 'memory',
        ackWaitMs: 2000,
        maxDeliver: 1000,
      });
    const applied = new Set<string>();
    const handle = (consumer: string) => async (e: { stream: string; streamPosition: number }) => {
      if (e.stream === 'nul-error') throw nulError();
      applied.add(`${consumer}:${e.stream}@${e.streamPosition}`);
    };
    const projection = defineProjection({ name: 'nats_proj', handlers: { 'item.added': handle('p') } });
    const reactor = defineReactor({ name: 'nats_reactor', handlers: { 'item.added': handle('r') } });
    const relay = createRelay(store, { bus: bus(), name: `hostile-${suffix}`, registry: null });
    cleanups.push(() => relay.stop());
    const worker = track(
      createWorker(store, { from: bus(), consumers: [projection, reactor], retry: RETRY, parkedPollMs: 50 }),
    );
    await relay.start();
    await worker.start();
    await store.append('nul-error', [{ type: 'item.added', data: {} }]);
    for (const type of PROTOTYPE_NAMES) {
      await store.append(`proto-${type}`, [
        { type, data: {} },
        { type: 'item.added', data: {} },
      ]);
    }
    const parked = parkedEvents(store);
    await waitFor(
      'both consumers parked the NUL error',
      async () => (await parked.list()).length === 2,
      60_000,
    );
    await waitFor(
      'every prototype-named stream applied',
      () => applied.size === PROTOTYPE_NAMES.length * 2,
      60_000,
    );
    for (const row of await parked.list()) {
      expect(row).toMatchObject({ stream: 'nul-error', attempts: 3, error: 'bad\\0byte \ufffd in message' });
    }
    expect(await parked.list({ status: ['retrying', 'parked'] })).toHaveLength(2);
  });
});
