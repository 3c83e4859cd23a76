import { describe, expect, it } from 'vitest';
import {
  createEventStore,
  createProjections,
  createWorker,
  defineProjection,
  defineReactor,
  ErrorCodes,
  type ProjectionDefinition,
} from '../../src/index.js';

const ddl = 'create table :TABLE: (id text primary key)';

function codeOf(f: () => unknown): unknown {
  try {
    f();
    return null;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

describe('defineProjection with versions and tables', () => {
  it('defaults: version 1, async, no tables, no batch', () => {
    const p = defineProjection({ name: 'a', handlers: { x: async () => {} } });
    expect(p).toMatchObject({ version: 1, mode: 'async', tables: {}, batch: undefined });
  });

  it('accepts a batch handler without per-type handlers', () => {
    const p = defineProjection({ name: 'a', tables: { a: ddl }, batch: async () => {} });
    expect(p.handlers).toEqual({});
  });

  it.each([
    [{ name: 'a', version: 0, handlers: { x: async () => {} } }],
    [{ name: 'a', version: 1.5, handlers: { x: async () => {} } }],
    [{ name: 'a', tables: { 'Bad-Name': ddl }, handlers: { x: async () => {} } }],
    [{ name: 'a', tables: { a__v1: ddl }, handlers: { x: async () => {} } }],
    [{ name: 'a', tables: { a: 'create table a (id int)' }, handlers: { x: async () => {} } }],
    [{ name: 'a', mode: 'sync', tables: { a: ddl }, handlers: { x: async () => {} } }],
    [{ name: 'a', mode: 'inline', handlers: { x: async () => {} } }],
    [{ name: 'a', tables: { a: ddl } }],
    [{ name: 'a', tables: { a: ddl }, batch: 'nope' }],
  ])('refuses %j with a typed error', (definition) => {
    expect(codeOf(() => defineProjection(definition as never))).toBe(ErrorCodes.INVALID_CONSUMER);
  });

  const handlers = { x: async () => {} };
  const versioned = defineProjection({ name: 'v', tables: { a: ddl }, handlers });
  it.each<[string, unknown, string]>([
    ['a reactor', defineReactor({ name: 'mailer', handlers }), 'reactor "mailer"'],
    ['a reactor', defineReactor({ name: 'mailer', handlers }), 'Run reactors with createWorker'],
    ['a projection without tables', defineProjection({ name: 'p', handlers }), 'declares no tables'],
    ['a projection without tables', defineProjection({ name: 'p', handlers }), 'createWorker'],
    ['null', null, 'projections[0] is null'],
    ['a plain object without kind', { name: 'v', tables: { a: ddl }, handlers }, 'has kind undefined'],
    ['a handler that is not a function', { ...versioned, handlers: { x: 'nope' } }, 'not a function'],
    ['a bad name', { ...versioned, name: '' }, 'is not a usable consumer name'],
    ['a bad table name', { ...versioned, tables: { 'Bad-Name': ddl } }, 'table name "Bad-Name"'],
    ['DDL without :TABLE:', { ...versioned, tables: { a: 'create table a ()' } }, ':TABLE:'],
    ['a bad version', { ...versioned, version: -1 }, 'version must be'],
  ])('createProjections refuses %s with EVENTLANE_INVALID_CONSUMER (%#)', (_what, projection, message) => {
    const fakeStore = { schema: 'eventlane', executor: {} } as never;
    let error: unknown;
    try {
      createProjections(fakeStore, { projections: [projection as ProjectionDefinition] });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: ErrorCodes.INVALID_CONSUMER });
    expect((error as Error).message).toContain('createProjections: projections[0]');
    expect((error as Error).message).toContain(message);
  });

  it.each([
    [{ pageSize: 0 }, 'projections.pageSize'],
    [{ pageSize: 10_001 }, 'projections.pageSize'],
    [{ switchLag: -1 }, 'projections.switchLag'],
    [{ graceMs: 1.5 }, 'projections.graceMs'],
    [{ maxEventsPerSecond: Number.NaN }, 'projections.maxEventsPerSecond'],
    [{ schema: 'Bad-Schema' }, 'Bad-Schema'],
    [{ pollMs: 5 }, 'Unknown option projections.pollMs'],
    ['fast', 'projections must be an object'],
  ])(
    'createWorker refuses projections %j with EVENTLANE_INVALID_ARGUMENT naming it',
    (projections, message) => {
      const fakeStore = { schema: 'eventlane', executor: {}, readLog: () => undefined } as never;
      const p = defineProjection({ name: 'a', tables: { a: ddl }, handlers: { x: async () => {} } });
      let error: unknown;
      try {
        createWorker(fakeStore, { from: 'log', consumers: [p], projections: projections as never });
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      expect((error as Error).message).toContain(message);
    },
  );

  it('createWorker takes a versioned projection; refuses a batch handler without tables, and clashing tables', async () => {
    const store = await createEventStore();
    try {
      const p = defineProjection({ name: 'a', tables: { a: ddl }, handlers: { x: async () => {} } });
      const worker = createWorker(store, { from: 'log', consumers: [p] });
      expect(worker.projections.progress('a')).toMatchObject({ name: 'a', version: 1, status: 'unknown' });
      const batchOnly = defineProjection({
        name: 'b',
        handlers: { x: async () => {} },
        batch: async () => {},
      });
      let error: unknown;
      try {
        createWorker(store, { from: 'log', consumers: [batchOnly] });
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ code: ErrorCodes.INVALID_CONSUMER });
      expect((error as Error).message).toContain('createWorker: consumers[0]');
      expect((error as Error).message).toContain('declares no tables');
      const clash = defineProjection({ name: 'c', tables: { a: ddl }, handlers: { x: async () => {} } });
      expect(codeOf(() => createWorker(store, { from: 'log', consumers: [p, clash] }))).toBe(
        ErrorCodes.PROJECTION_TABLE_CLASH,
      );
    } finally {
      await store.close();
    }
  });
});
