import { describe, expect, it } from 'vitest';
import { createWorker, defineProjection, ErrorCodes, createEventStore } from '../../src/index.js';

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

  it('createWorker refuses a versioned projection (it runs in createProjections)', async () => {
    const store = await createEventStore();
    try {
      const p = defineProjection({ name: 'a', tables: { a: ddl }, handlers: { x: async () => {} } });
      expect(codeOf(() => createWorker(store, { from: 'log', consumers: [p] }))).toBe(
        ErrorCodes.INVALID_CONSUMER,
      );
    } finally {
      await store.close();
    }
  });
});
