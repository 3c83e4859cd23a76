import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEventStore,
  ErrorCodes,
  isEventlaneError,
  type ErrorCode,
  type EventStore,
} from '../../src/index.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, logState, pgAvailable, storeTargets, uniqueSchema } from '../support/stores.js';

interface Case {
  name: string;
  call: (store: EventStore) => Promise<unknown>;
  code: ErrorCode;
  message: RegExp;
}

class Money {
  constructor(readonly cents: number) {}
}
const cyclic: Record<string, unknown> = { a: 1 };
cyclic.self = cyclic;
const ok = { type: 'order.created', data: { total: 1 } };
const existingId = '0190f5a0-1111-7000-8000-000000000001';

const cases: Case[] = [
  {
    name: 'empty stream name',
    call: (s) => s.append('', [ok]),
    code: ErrorCodes.INVALID_STREAM,
    message: /must not be empty/,
  },
  {
    name: 'blank stream name',
    call: (s) => s.append('   ', [ok]),
    code: ErrorCodes.INVALID_STREAM,
    message: /empty or blank/,
  },
  {
    name: '10 kB stream name',
    call: (s) => s.append('x'.repeat(10_240), [ok]),
    code: ErrorCodes.INVALID_STREAM,
    message: /10240 characters long; the limit is 256/,
  },
  {
    name: 'control character in stream name',
    call: (s) => s.append('order-\u0007', [ok]),
    code: ErrorCodes.INVALID_STREAM,
    message: /control character/,
  },
  {
    name: 'newline in stream name',
    call: (s) => s.append('order\n42', [ok]),
    code: ErrorCodes.INVALID_STREAM,
    message: /control character/,
  },
  {
    name: 'non-string stream name',
    call: (s) => s.append(42 as never, [ok]),
    code: ErrorCodes.INVALID_STREAM,
    message: /must be a string, got number/,
  },
  {
    name: 'unknown expected-version word',
    call: (s) => s.append('o-1', [ok], { expectedVersion: 'latest' as never }),
    code: ErrorCodes.INVALID_ARGUMENT,
    message: /expectedVersion "latest" is not valid/,
  },
  {
    name: 'negative expected version',
    call: (s) => s.append('o-1', [ok], { expectedVersion: -1 }),
    code: ErrorCodes.INVALID_ARGUMENT,
    message: /expectedVersion -1/,
  },
  {
    name: 'fractional expected version',
    call: (s) => s.append('o-1', [ok], { expectedVersion: 1.5 }),
    code: ErrorCodes.INVALID_ARGUMENT,
    message: /expectedVersion 1.5/,
  },
  {
    name: 'bigint expected version',
    call: (s) => s.append('o-1', [ok], { expectedVersion: 3n as never }),
    code: ErrorCodes.INVALID_ARGUMENT,
    message: /expectedVersion 3n/,
  },
  {
    name: 'empty event list',
    call: (s) => s.append('o-1', []),
    code: ErrorCodes.INVALID_ARGUMENT,
    message: /no events/,
  },
  {
    name: 'events not an array',
    call: (s) => s.append('o-1', ok as never),
    code: ErrorCodes.INVALID_ARGUMENT,
    message: /array of events/,
  },
  {
    name: 'null event',
    call: (s) => s.append('o-1', [ok, null as never]),
    code: ErrorCodes.INVALID_EVENT,
    message: /events\[1\] is null/,
  },
  {
    name: 'missing type',
    call: (s) => s.append('o-1', [{ data: {} } as never]),
    code: ErrorCodes.INVALID_EVENT,
    message: /events\[0\]\.type must be a non-empty string/,
  },
  {
    name: 'bad type name',
    call: (s) => s.append('o-1', [{ type: 'order paid!', data: {} }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /not a valid event type/,
  },
  {
    name: 'missing data',
    call: (s) => s.append('o-1', [{ type: 'x.a' } as never]),
    code: ErrorCodes.INVALID_EVENT,
    message: /data is missing/,
  },
  {
    name: 'BigInt in data',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: { n: 1n } }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /events\[0\]\.data\.n is a BigInt/,
  },
  {
    name: 'function in data',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: { f: () => 1 } }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /data\.f is a function/,
  },
  {
    name: 'symbol in data',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: { s: Symbol('x') } }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /data\.s is a symbol/,
  },
  {
    name: 'NaN in nested array',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: { items: [1, { p: NaN }] } }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /data\.items\[1\]\.p is NaN/,
  },
  {
    name: 'NaN under a key that is not a name',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: { ok: 1, 'a b': [0, NaN] } }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /^events\[0\]\.data\["a b"\]\[1\] is NaN/,
  },
  {
    name: 'Infinity',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: { p: Infinity } }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /data\.p is Infinity/,
  },
  {
    name: 'cycle',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: cyclic }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /data\.self refers back/,
  },
  {
    name: 'Date in data',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: { at: new Date() } }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /data\.at is a Date.*toISOString/,
  },
  {
    name: 'class instance in data',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: { m: new Money(1) } }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /data\.m is a Money/,
  },
  {
    name: 'Map in data',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: new Map() as never }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /data is a Map/,
  },
  {
    name: 'undefined in array',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: [1, undefined] as never }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /data\[1\] is undefined/,
  },
  {
    name: 'NUL character in a string',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: { s: 'a\u0000b' } }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /data\.s holds a string with a NUL/,
  },
  {
    name: 'unpaired surrogate in a key',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: { ['k\ud800']: 1 } }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /unpaired UTF-16 surrogate/,
  },
  {
    name: 'bad metadata',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: {}, metadata: [] as never }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /metadata must be a plain object/,
  },
  {
    name: 'bigint in metadata',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: {}, metadata: { n: 2n } as never }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /metadata\.n is a BigInt/,
  },
  {
    name: 'bad id',
    call: (s) => s.append('o-1', [{ id: 'not-a-uuid', type: 'x.a', data: {} }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /id "not-a-uuid" is not a UUID/,
  },
  {
    name: 'bad version',
    call: (s) => s.append('o-1', [{ type: 'x.a', version: 0, data: {} }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /version 0 must be a whole number ≥ 1/,
  },
  {
    name: 'bad occurredAt',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: {}, occurredAt: new Date('nope') }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /occurredAt must be a valid Date/,
  },
  {
    name: 'oversized event',
    call: (s) => s.append('o-1', [ok, { type: 'x.a', data: { blob: 'x'.repeat(1024 * 1024) } }]),
    code: ErrorCodes.EVENT_TOO_LARGE,
    message: /Event #1 \(x\.a\) is 10485\d\d bytes of JSON, over the store's limit of 1048576 bytes/,
  },
  {
    name: 'duplicate id with other content',
    call: (s) => s.append('o-2', [{ id: existingId, type: 'x.a', data: { other: true } }]),
    code: ErrorCodes.DUPLICATE_EVENT_ID,
    message: /already stored/,
  },
  {
    name: 'duplicate id within a batch',
    call: (s) =>
      s.append('o-1', [
        { id: existingId.replace('01', '02'), type: 'x.a', data: {} },
        { id: existingId.replace('01', '02'), type: 'x.a', data: {} },
      ]),
    code: ErrorCodes.DUPLICATE_EVENT_ID,
    message: /appears twice/,
  },
  {
    name: 'bad options',
    call: (s) => s.append('o-1', [ok], 'no_stream' as never),
    code: ErrorCodes.INVALID_ARGUMENT,
    message: /options must be an object/,
  },
  {
    name: 'bad log checkpoint',
    call: (s) => s.readLog({ after: '12' }),
    code: ErrorCodes.INVALID_CHECKPOINT,
    message: /"12" is not a log checkpoint/,
  },
  {
    name: 'bad log limit',
    call: (s) => s.readLog({ limit: 0 }),
    code: ErrorCodes.INVALID_ARGUMENT,
    message: /limit must be a whole number from 1 to 10000, got 0/,
  },
  {
    name: 'bad read direction',
    call: (s) => s.readStream('o-1', { direction: 'sideways' as never }),
    code: ErrorCodes.INVALID_ARGUMENT,
    message: /direction must be/,
  },
  {
    name: 'bad read position',
    call: (s) => s.readStream('o-1', { from: -3 }),
    code: ErrorCodes.INVALID_ARGUMENT,
    message: /from must be a stream position/,
  },
  {
    name: 'checkpoint position beyond bigint',
    call: (s) => s.readLog({ after: '0:9999999999999999999' }),
    code: ErrorCodes.INVALID_CHECKPOINT,
    message: /"0:9999999999999999999" is not a log checkpoint.*out of range/,
  },
  {
    name: 'checkpoint transaction beyond xid8',
    call: (s) => s.readLog({ after: '99999999999999999999:0' }),
    code: ErrorCodes.INVALID_CHECKPOINT,
    message: /out of range/,
  },
  {
    name: 'BigInt checkpoint',
    call: (s) => s.readLog({ after: 10n as never }),
    code: ErrorCodes.INVALID_CHECKPOINT,
    message: /10n is not a log checkpoint/,
  },
  {
    name: 'cyclic checkpoint',
    call: (s) => s.readLog({ after: cyclic as never }),
    code: ErrorCodes.INVALID_CHECKPOINT,
    message: /an object is not a log checkpoint/,
  },
  {
    name: 'BigInt log limit',
    call: (s) => s.readLog({ limit: 10n as never }),
    code: ErrorCodes.INVALID_ARGUMENT,
    message: /limit must be a whole number from 1 to 10000, got 10n/,
  },
  {
    name: 'huge log limit',
    call: (s) => s.readLog({ limit: Number.MAX_SAFE_INTEGER }),
    code: ErrorCodes.INVALID_ARGUMENT,
    message: /limit must be a whole number from 1 to 10000, got 9007199254740991/,
  },
  {
    name: 'huge stream read limit',
    call: (s) => s.readStream('o-1', { limit: 1_000_000_000 }),
    code: ErrorCodes.INVALID_ARGUMENT,
    message: /limit must be a whole number from 1 to 100000/,
  },
  {
    name: 'BigInt stream position',
    call: (s) => s.readStream('o-1', { from: 1n as never }),
    code: ErrorCodes.INVALID_ARGUMENT,
    message: /from must be a stream position/,
  },
  {
    name: 'occurredAt past year 9999',
    call: (s) => s.append('o-1', [{ ...ok, occurredAt: new Date('+010000-01-01T00:00:00Z') }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /events\[0\]\.occurredAt \+010000-01-01T00:00:00\.000Z is outside the years 1 to 9999/,
  },
  {
    name: 'occurredAt before year 1',
    call: (s) => s.append('o-1', [{ ...ok, occurredAt: new Date('-000001-01-01T00:00:00Z') }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /outside the years 1 to 9999/,
  },
  {
    name: 'data nested 20,000 deep',
    call: (s) => s.append('o-1', [{ type: 'x.a', data: deep(20_000) }]),
    code: ErrorCodes.INVALID_EVENT,
    message: /events\[0\]\.data.* is nested deeper than 512 levels/,
  },
  {
    name: 'too many events in one append',
    call: (s) =>
      s.append(
        'o-1',
        Array.from({ length: 100_001 }, () => ok),
      ),
    code: ErrorCodes.APPEND_TOO_LARGE,
    message: /100001 events; one call takes at most 100000/,
  },
];

/** `{ a: { a: … { a: 1 } } }`, `levels` objects deep. */
function deep(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { a: 1 };
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`bad input on ${target.name}`, () => {
    let store: EventStore;
    beforeAll(async () => {
      store = await target.open();
      await store.append('o-1', [ok, ok]);
      await store.append('o-9', [{ id: existingId, type: 'x.a', data: { v: 1 } }]);
    });
    afterAll(async () => {
      await store?.close();
      if (target.name === 'pg') await dropSchema(store.schema);
    });

    it.each(cases)('$name: typed error $code, store unchanged', async ({ call, code, message }) => {
      const before = await logState(store);
      const error = await Promise.resolve()
        .then(() => call(store))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error, 'the call should have failed').toBeDefined();
      expect(isEventlaneError(error, code)).toBe(true);
      expect((error as Error).message).toMatch(message);
      expect(await logState(store)).toEqual(before);
    });

    it('accepts data nested 512 deep and refuses 513', async () => {
      await store.append('deep-1', [{ type: 'x.a', data: deep(512) }]);
      const [read] = await store.readStream('deep-1');
      expect(JSON.stringify(read!.data)).toBe(JSON.stringify(deep(512)));
      await expect(store.append('deep-1', [{ type: 'x.a', data: deep(513) }])).rejects.toMatchObject({
        code: ErrorCodes.INVALID_EVENT,
      });
    });

    it('caps the total size of one append', async () => {
      const small = await target.open({ maxAppendBytes: 1000 });
      try {
        const event = { type: 'x.a', data: { s: 'x'.repeat(90) } };
        await small.append(
          's-1',
          Array.from({ length: 9 }, () => event),
        );
        const error = await small
          .append(
            's-1',
            Array.from({ length: 11 }, () => event),
          )
          .catch((e: unknown) => e);
        expect(error).toMatchObject({ code: ErrorCodes.APPEND_TOO_LARGE, limitBytes: 1000 });
        expect((error as Error).message).toMatch(/over the store's limit of 1000 bytes per append/);
        expect(await small.streamVersion('s-1')).toBe(9);
      } finally {
        await small.close();
        if (target.name === 'pg') await dropSchema(small.schema);
      }
    });

    it('readStream returns at most 10,000 events unless told otherwise', async () => {
      const batch = Array.from({ length: 10_001 }, (_, i) => ({ type: 'x.a', data: { i } }));
      await store.append('long-1', batch);
      expect(await store.readStream('long-1')).toHaveLength(10_000);
      expect(await store.readStream('long-1', { limit: 100_000 })).toHaveLength(10_001);
      expect(await store.readStream('long-1', { from: 10_001 })).toHaveLength(1);
    });

    it('honours a configured size limit', async () => {
      const small = await target.open({ maxEventBytes: 100 });
      try {
        await small.append('s-1', [{ type: 'x.a', data: { s: 'x'.repeat(50) } }]);
        await expect(
          small.append('s-1', [{ type: 'x.a', data: { s: 'x'.repeat(100) } }]),
        ).rejects.toMatchObject({
          code: ErrorCodes.EVENT_TOO_LARGE,
          limitBytes: 100,
        });
        expect(await small.streamVersion('s-1')).toBe(1);
      } finally {
        await small.close();
        if (target.name === 'pg') await dropSchema(small.schema);
      }
    });
  });
}

describe.skipIf(!pgAvailable())('statement timeout (PostgreSQL)', () => {
  it('cancels a statement over statementTimeoutMs with a typed error, and migrates without it', async () => {
    // 300 ms is shorter than a fresh schema's migration, which must still go through.
    const store = await createEventStore({
      url: SERVICES.postgres.url,
      schema: uniqueSchema(),
      statementTimeoutMs: 300,
    });
    try {
      const error = await store.executor.query('select pg_sleep(2)').catch((e: unknown) => e);
      expect(isEventlaneError(error, ErrorCodes.STATEMENT_TIMEOUT), String(error)).toBe(true);
      expect((error as Error).message).toMatch(
        /cancelled a statement: it ran longer than the statement timeout/,
      );
      // The connection stays usable.
      await store.append('after-timeout', [ok]);
      expect(await store.streamVersion('after-timeout')).toBe(1);
    } finally {
      await store.close();
      await dropSchema(store.schema);
    }
  });
});

describe('bad store configuration', () => {
  it.each([
    [{ url: 'mysql://localhost/db' }, /url must be a PostgreSQL connection string/],
    [{ url: 42 }, /url must be a PostgreSQL connection string/],
    [{ schema: 'Bad-Name' }, /schema "Bad-Name" is not a usable PostgreSQL schema name/],
    [{ schema: 'x'.repeat(64) }, /not a usable PostgreSQL schema name/],
    [{ maxEventBytes: 0 }, /maxEventBytes must be/],
    [{ poolSize: 1.5 }, /poolSize must be/],
    [{ maxAppendBytes: 0 }, /maxAppendBytes must be/],
    [
      { statementTimeoutMs: -1 },
      /statementTimeoutMs must be a whole number of milliseconds from 0 to 2147483647/,
    ],
    [{ statementTimeoutMs: 2 ** 31 }, /statementTimeoutMs must be .* got 2147483648/],
    [{ statementTimeoutMs: 5n }, /statementTimeoutMs must be .* got 5n/],
    [{ url: 'postgres://127.0.0.1/x', dataDir: '/tmp/x' }, /dataDir is for the embedded store only/],
    [{ url: 'postgres://127.0.0.1/x', pglite: {} }, /not url and pglite/],
    [{ shcema: 'typo' }, /Unknown option "shcema"/],
  ])('%o is refused', async (options, message) => {
    const { createEventStore } = await import('../../src/index.js');
    const error = await createEventStore(options as never).catch((e: unknown) => e);
    expect(isEventlaneError(error, ErrorCodes.INVALID_ARGUMENT)).toBe(true);
    expect((error as Error).message).toMatch(message);
  });
});
