/* eslint-disable @typescript-eslint/require-await -- handlers must return promises (these have nothing to await) */
/**
 * Type-level tests of the public generic API. `npm run typecheck` (in .ci/run) compiles this file: each
 * `@ts-expect-error` line fails the type check when the refusal it expects disappears, and each `expectTypeOf`
 * fails it when a type drifts. The handlers are never run; the runtime assertions only keep vitest counting them.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  createProjections,
  createReplay,
  createWorker,
  defineEvent,
  defineProjection,
  defineReactor,
  type AppendResult,
  type ConsumerDefinition,
  type ConsumerHealth,
  type EventStore,
  type ProjectionContext,
  type ProjectionDefinition,
  type ProjectionProgress,
  type Projections,
  type ProjectionsOptions,
  type ReactorContext,
  type ReactorDefinition,
  type ReadLogResult,
  type Replay,
  type ReplayJob,
  type ReplayPlan,
  type StoredEvent,
  type VersionedProjectionHealth,
  type Worker,
} from '../src/index.js';

declare const store: EventStore;
const never = (): boolean => false; // type-only blocks below never run

describe('defineProjection / defineReactor are kept apart by type', () => {
  it('a projection handler gets sql/query/tables and no effect; a reactor handler gets effect and no sql', () => {
    const p = defineProjection({
      name: 'p',
      handlers: {
        'a.b': async (e, ctx) => {
          expectTypeOf(e).toEqualTypeOf<StoredEvent>();
          expectTypeOf(ctx).toEqualTypeOf<ProjectionContext>();
          expectTypeOf(ctx.sql<{ n: number }>).returns.resolves.toEqualTypeOf<{ n: number }[]>();
          expectTypeOf(ctx.query<{ n: number }>).returns.resolves.toEqualTypeOf<{ n: number }[]>();
          expectTypeOf(ctx).not.toHaveProperty('effect');
        },
      },
    });
    const r = defineReactor({
      name: 'r',
      handlers: {
        'a.b': async (_e, ctx) => {
          expectTypeOf(ctx).toEqualTypeOf<ReactorContext>();
          expectTypeOf(ctx).not.toHaveProperty('sql');
          expectTypeOf(ctx).not.toHaveProperty('query');
          // effect() returns what its function resolves to.
          expectTypeOf(ctx.effect('x', async (key) => key.length)).resolves.toEqualTypeOf<number>();
        },
      },
    });
    expectTypeOf(p).toEqualTypeOf<ProjectionDefinition>();
    expectTypeOf(p.kind).toEqualTypeOf<'projection'>();
    expectTypeOf(r).toEqualTypeOf<ReactorDefinition>();
    expectTypeOf(r.kind).toEqualTypeOf<'reactor'>();
    expectTypeOf<ConsumerDefinition>().toEqualTypeOf<ProjectionDefinition | ReactorDefinition>();

    if (never()) {
      // @ts-expect-error a projection handler gets no effect()
      defineProjection({ name: 'x', handlers: { 'a.b': async (_e, { effect }) => void effect } });
      // @ts-expect-error a reactor handler gets no sql
      defineReactor({ name: 'x', handlers: { 'a.b': async (_e, { sql }) => void sql } });
      // @ts-expect-error a reactor handler gets no query
      defineReactor({ name: 'x', handlers: { 'a.b': async (_e, { query }) => void query } });
      // @ts-expect-error a reactor has no tables (they belong to versioned projections)
      defineReactor({ name: 'x', handlers: { 'a.b': async () => {} }, tables: {} });
      // @ts-expect-error handlers are async: a handler returns a promise
      defineReactor({ name: 'x', handlers: { 'a.b': () => 1 } });
      // @ts-expect-error mode is 'inline' or 'async'
      defineProjection({ name: 'x', handlers: {}, mode: 'sync' });
    }
    expect([p.kind, r.kind]).toEqual(['projection', 'reactor']);
  });
});

describe('createWorker / createProjections option types', () => {
  it('types their options and results', () => {
    const p = defineProjection({ name: 'p', handlers: { 'a.b': async () => {} } });
    const r = defineReactor({ name: 'r', handlers: { 'a.b': async () => {} } });
    expectTypeOf(createWorker).parameter(0).toEqualTypeOf<EventStore>();
    expectTypeOf(createWorker).returns.toEqualTypeOf<Worker>();
    expectTypeOf(createProjections).returns.toEqualTypeOf<Projections>();
    expectTypeOf<ProjectionsOptions['projections']>().toEqualTypeOf<readonly ProjectionDefinition[]>();
    const versioned = defineProjection({
      name: 'v',
      tables: { v: 'create table :TABLE: (id text primary key)' },
      handlers: { 'a.b': async () => {} },
    });
    expectTypeOf<Worker['projections']['progress']>().returns.toEqualTypeOf<ProjectionProgress>();
    expectTypeOf<Worker['store']>().toEqualTypeOf<EventStore>();
    expectTypeOf<ConsumerHealth['projection']>().toEqualTypeOf<VersionedProjectionHealth | undefined>();
    if (never()) {
      createWorker(store, { from: 'log', consumers: [p, r], partitions: 4, stopTimeoutMs: 5000 });
      // Every kind in one worker: a versioned projection (tables), a handler-only projection, a reactor.
      createWorker(store, {
        from: 'log',
        consumers: [versioned, p, r],
        projections: { schema: 'read', pageSize: 1000, switchLag: 100, graceMs: 0, maxEventsPerSecond: 500 },
      });
      // @ts-expect-error projections.pageSize is a number
      createWorker(store, { from: 'log', consumers: [versioned], projections: { pageSize: '500' } });
      // @ts-expect-error projections takes pageSize, switchLag, graceMs, maxEventsPerSecond and schema
      createWorker(store, { from: 'log', consumers: [versioned], projections: { pollMs: 5 } });
      // @ts-expect-error from is 'log' or a Bus
      createWorker(store, { from: 'nats', consumers: [p] });
      // @ts-expect-error consumers is required
      createWorker(store, { from: 'log' });
      // @ts-expect-error consumers are definitions from defineProjection/defineReactor
      createWorker(store, { from: 'log', consumers: [{ name: 'p' }] });
      // @ts-expect-error stopTimeoutMs is a number of milliseconds
      createWorker(store, { from: 'log', consumers: [p], stopTimeoutMs: '10s' });
      createProjections(store, { projections: [p], schema: 'read', pageSize: 500 });
      // @ts-expect-error createProjections runs projections, not reactors
      createProjections(store, { projections: [r] });
      // @ts-expect-error pageSize is a number
      createProjections(store, { projections: [p], pageSize: '500' });
    }
    expect(p.kind).toBe('projection');
  });
});

describe('createReplay option types', () => {
  it('takes consumer definitions; jobs name a kind of four and their consumer', () => {
    const p = defineProjection({ name: 'p', handlers: { 'a.b': async () => undefined } });
    expectTypeOf(createReplay).returns.toEqualTypeOf<Replay>();
    expectTypeOf<Replay['plan']>().returns.resolves.toEqualTypeOf<ReplayPlan>();
    expectTypeOf<Replay['start']>().returns.resolves.toEqualTypeOf<ReplayJob>();
    if (never()) {
      const replay = createReplay(store, { consumers: [p] });
      void replay.start({ kind: 'backfill', consumer: 'p', types: ['a.b'], maxEventsPerSecond: 100 });
      // @ts-expect-error kind is one of rebuild, backfill, dry-run, reactor-replay
      void replay.start({ kind: 'replay-everything', consumer: 'p' });
      // @ts-expect-error maxEventsPerSecond is a number
      void replay.plan({ kind: 'backfill', consumer: 'p', maxEventsPerSecond: '100' });
      // @ts-expect-error consumers are definitions
      createReplay(store, { consumers: ['p'] });
    }
    expect(p.kind).toBe('projection');
  });
});

describe('defineEvent: create() and the upcast chain', () => {
  const v1 = z.object({ amount: z.number() });
  const v2 = z.object({ amount: z.number(), currency: z.string() });
  it('create() takes the current version; each upcaster maps version n to n + 1', () => {
    const Paid = defineEvent({
      type: 'order.paid',
      owner: 'payments',
      versions: { 1: v1, 2: v2 },
      upcast: { 1: (d) => ({ ...d, currency: 'EUR' }) },
    });
    expectTypeOf<Parameters<typeof Paid.create>[0]>().toEqualTypeOf<{ amount: number; currency: string }>();
    expectTypeOf(Paid.create({ amount: 1, currency: 'EUR' }).type).toEqualTypeOf<'order.paid'>();
    if (never()) {
      // @ts-expect-error create() takes the current version's data, not version 1's
      Paid.create({ amount: 1 });
      defineEvent({
        type: 'order.paid',
        owner: 'payments',
        versions: { 1: v1, 2: v2 },
        // @ts-expect-error the upcaster must return version 2's shape
        upcast: { 1: (d) => d },
      });
    }
    expect(Paid.currentVersion).toBe(2);
  });
});

describe('store result types', () => {
  it('append, readStream and readLog resolve to their documented shapes', () => {
    expectTypeOf<EventStore['append']>().returns.resolves.toEqualTypeOf<AppendResult>();
    expectTypeOf<AppendResult['globalPosition']>().toEqualTypeOf<bigint>();
    expectTypeOf<AppendResult['positions']>().toEqualTypeOf<number[]>();
    expectTypeOf<AppendResult['checkpoint']>().toEqualTypeOf<string>();
    expectTypeOf<EventStore['readStream']>().returns.resolves.toEqualTypeOf<StoredEvent[]>();
    expectTypeOf<EventStore['readLog']>().returns.resolves.toEqualTypeOf<ReadLogResult>();
    expectTypeOf<StoredEvent['streamPosition']>().toEqualTypeOf<number>();
    if (never()) {
      // @ts-expect-error events are an array
      void store.append('s-1', { type: 'a.b', data: {} });
      // @ts-expect-error an event needs a type
      void store.append('s-1', [{ data: {} }]);
      // @ts-expect-error expectedVersion is a number or a named expectation
      void store.append('s-1', [{ type: 'a.b', data: {} }], { expectedVersion: 'latest' });
    }
    expect(true).toBe(true);
  });
});
