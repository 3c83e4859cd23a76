/* eslint-disable @typescript-eslint/require-await, @typescript-eslint/prefer-promise-reject-errors, @typescript-eslint/only-throw-error -- handlers must return promises (some have nothing to await); the contract breaches are what these tests throw */
import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_RETRY } from '../../src/consumers/backoff.js';
import { Breaker } from '../../src/consumers/breaker.js';
import { callHandler } from '../../src/consumers/call.js';
import { handlerOf } from '../../src/consumers/define.js';
import {
  createEventStore,
  createWorker,
  defineProjection,
  defineReactor,
  ErrorCodes,
  isEventlaneError,
  type ConsumerDefinition,
  type ProjectionHandler,
  type WorkerOptions,
} from '../../src/index.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(isEventlaneError(error)).toBe(true);
    return (error as { code: string }).code;
  }
  return undefined;
}

const ok = defineProjection({ name: 'p', handlers: { 'a.b': async () => {} } });

describe('defineProjection / defineReactor', () => {
  it('keeps the two kinds apart', () => {
    const r = defineReactor({
      name: 'r',
      handlers: { 'a.b': async (_e, { effect }) => void (await effect('x', async (k) => k)) },
    });
    expect(ok.kind).toBe('projection');
    expect(r.kind).toBe('reactor');
    // @ts-expect-error a projection handler gets no effect()
    defineProjection({ name: 'x', handlers: { 'a.b': async (_e, { effect }) => effect } });
    // @ts-expect-error a reactor handler gets no sql
    defineReactor({ name: 'x', handlers: { 'a.b': async (_e, { sql }) => sql } });
  });

  it('refuses bad definitions with EVENTLANE_INVALID_CONSUMER', () => {
    expect(codeOf(() => defineProjection(null as never))).toBe(ErrorCodes.INVALID_CONSUMER);
    expect(codeOf(() => defineProjection({ name: '', handlers: { 'a.b': async () => {} } }))).toBe(
      ErrorCodes.INVALID_CONSUMER,
    );
    expect(codeOf(() => defineProjection({ name: 'has space', handlers: { 'a.b': async () => {} } }))).toBe(
      ErrorCodes.INVALID_CONSUMER,
    );
    expect(codeOf(() => defineReactor({ name: 'r', handlers: {} }))).toBe(ErrorCodes.INVALID_CONSUMER);
    expect(codeOf(() => defineReactor({ name: 'r', handlers: { 'a.b': 'nope' as never } }))).toBe(
      ErrorCodes.INVALID_CONSUMER,
    );
    try {
      defineReactor({ name: 'r', handlers: { 'a.b': 42 as never } });
    } catch (error) {
      expect((error as Error).message).toContain('"a.b"');
      expect((error as Error).message).toContain('number');
    }
  });
});

describe('handler contract', () => {
  it('turns a non-promise return into EVENTLANE_HANDLER_CONTRACT', async () => {
    await expect(callHandler('Handler x', () => 42)).rejects.toMatchObject({
      code: ErrorCodes.HANDLER_CONTRACT,
    });
    await expect(callHandler('Handler x', () => undefined)).rejects.toThrow(
      /returned undefined, not a promise/,
    );
  });

  it('turns thrown non-errors into EVENTLANE_HANDLER_CONTRACT, keeping real errors', async () => {
    await expect(callHandler('Handler x', () => Promise.reject('boom'))).rejects.toMatchObject({
      code: ErrorCodes.HANDLER_CONTRACT,
      message: expect.stringContaining('threw the string "boom", not an Error'),
    });
    await expect(
      callHandler('Handler x', () => {
        throw { reason: 1 };
      }),
    ).rejects.toMatchObject({ code: ErrorCodes.HANDLER_CONTRACT });
    const real = new TypeError('real');
    await expect(callHandler('Handler x', () => Promise.reject(real))).rejects.toBe(real);
  });
});

describe('createWorker options', () => {
  const fakeStore = { readLog: () => undefined, schema: 'eventlane', executor: {} } as never;
  const bad = (options: Partial<WorkerOptions> | Record<string, unknown>) =>
    codeOf(() => createWorker(fakeStore, { from: 'log', consumers: [ok], ...options }));

  it('refuses bad options with EVENTLANE_INVALID_ARGUMENT', () => {
    expect(bad({ from: 'kafka' as never })).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(bad({ consumers: [] })).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(bad({ partitions: 0 })).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(bad({ partitions: 2.5 })).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(bad({ batchSize: -1 })).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(bad({ leaseTtlMs: 1000, heartbeatMs: 500 })).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(bad({ retry: { jitter: 2 } })).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(bad({ retry: { maxAtempts: 3 } as never })).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(bad({ breaker: { threshold: 0 } })).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(bad({ pollIntervalMs: 'fast' as never })).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(bad({ colour: 'blue' })).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(codeOf(() => createWorker(null as never, { from: 'log', consumers: [ok] }))).toBe(
      ErrorCodes.INVALID_ARGUMENT,
    );
  });

  it('refuses consumers that are not definitions, or share a name', () => {
    expect(bad({ consumers: [{ name: 'p' } as ConsumerDefinition] })).toBe(ErrorCodes.INVALID_CONSUMER);
    expect(bad({ consumers: [ok, ok] })).toBe(ErrorCodes.INVALID_CONSUMER);
  });

  // Hand-built or altered definitions get the checks define* runs, with the runner and index in the message.
  const fn = async () => {};
  it.each<[string, unknown, string]>([
    ['null', null, 'consumers[0] is null, not a consumer definition'],
    ['a string', 'totals', 'consumers[0] is string'],
    ['no kind', { name: 'p', handlers: { 'a.b': fn } }, 'has kind undefined'],
    ['an unknown kind', { kind: 'saga', name: 'p', handlers: { 'a.b': fn } }, 'has kind "saga"'],
    [
      'a bad name',
      { kind: 'reactor', name: 'has space', handlers: { 'a.b': fn } },
      'is not a usable consumer name',
    ],
    ['a name that is not a string', { kind: 'reactor', name: 7, handlers: { 'a.b': fn } }, 'name 7'],
    ['handlers missing', { kind: 'reactor', name: 'r' }, 'handlers must be an object'],
    ['handlers an array', { kind: 'projection', name: 'p', handlers: [fn] }, 'got an array'],
    [
      'a handler that is a string',
      { kind: 'reactor', name: 'r', handlers: { 'a.b': 'x' } },
      'is string, not a function',
    ],
    [
      'a handler key no event can have',
      { kind: 'reactor', name: 'r', handlers: { 'a b': fn } },
      'not a valid event type',
    ],
    ['a bad version', { ...ok, version: 0 }, 'version must be a whole number'],
    ['a bad mode', { ...ok, mode: 'sync' }, "mode must be 'inline' or 'async'"],
    ['tables that are not an object', { ...ok, tables: 'x' }, 'tables must be an object'],
    ['a batch that is not a function', { ...ok, batch: 1 }, 'batch must be an async function'],
    ['an altered copy', { ...ok, handlers: { ...ok.handlers, 'c.d': null } }, 'is null, not a function'],
  ])('createWorker refuses %s with EVENTLANE_INVALID_CONSUMER', (_what, consumer, message) => {
    let error: unknown;
    try {
      createWorker(fakeStore, { from: 'log', consumers: [consumer as ConsumerDefinition] });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: ErrorCodes.INVALID_CONSUMER });
    expect((error as Error).message).toContain('createWorker: consumers[0]');
    expect((error as Error).message).toContain(message);
  });

  it('runs a checked, prototype-free copy of a hand-built definition', () => {
    const handlers = { 'a.b': fn };
    const worker = createWorker(fakeStore, {
      from: 'log',
      consumers: [{ kind: 'reactor', name: 'r', handlers }],
    });
    expect(worker).toBeDefined();
    expect(handlerOf(ok.handlers, 'a.b')).toBeTypeOf('function');
    for (const type of ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__']) {
      expect(handlerOf(ok.handlers, type)).toBeUndefined();
      expect(handlerOf({ 'a.b': fn }, type)).toBeUndefined();
    }
    expect(Object.getPrototypeOf(ok.handlers)).toBeNull();
    const onConstructor: ProjectionHandler = fn;
    const ctor = defineProjection({ name: 'c', handlers: { constructor: onConstructor } });
    expect(handlerOf(ctor.handlers, 'constructor')).toBe(onConstructor);
  });

  it('names an unknown consumer with EVENTLANE_UNKNOWN_CONSUMER', async () => {
    const store = await createEventStore();
    try {
      const worker = createWorker(store, { from: 'log', consumers: [ok] });
      await expect(worker.health('nope')).rejects.toMatchObject({
        code: ErrorCodes.UNKNOWN_CONSUMER,
        message: expect.stringContaining('"nope"'),
      });
      await worker.stop();
      await expect(worker.start()).rejects.toMatchObject({ code: ErrorCodes.WORKER_STATE });
    } finally {
      await store.close();
    }
  });
});

describe('backoff and breaker', () => {
  it('grows exponentially, capped, with jitter taken off', () => {
    const o = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000, jitter: 0.5 };
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(o, a, () => 0))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffDelay(o, 3, () => 1)).toBe(200);
    expect(backoffDelay({ ...o, jitter: 0 }, 3, () => 1)).toBe(400);
  });

  it('opens past the threshold, probes once after the cool-down, closes on success', () => {
    let now = 0;
    const b = new Breaker({ threshold: 3, windowMs: 1000, coolDownMs: 500 }, () => now);
    b.failure();
    b.failure();
    expect(b.state).toBe('closed');
    b.failure();
    expect(b.state).toBe('open');
    expect(b.acquire()).toBe(500);
    now = 500;
    expect(b.state).toBe('half-open');
    expect(b.acquire()).toBe(0);
    expect(b.acquire()).toBeGreaterThan(0); // one probe at a time
    b.failure();
    expect(b.state).toBe('open');
    now = 1000;
    expect(b.acquire()).toBe(0);
    b.success();
    expect(b.state).toBe('closed');
  });

  it('forgets failures outside its window', () => {
    let now = 0;
    const b = new Breaker({ threshold: 3, windowMs: 100, coolDownMs: 500 }, () => now);
    b.failure();
    now = 200;
    b.failure();
    b.failure();
    expect(b.state).toBe('closed');
  });
});
