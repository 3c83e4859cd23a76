import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEventStore,
  createProjections,
  createRelay,
  createWorker,
  defineProjection,
  ErrorCodes,
  isEventlaneError,
  parkedEvents,
  type EventStore,
} from '../../src/index.js';
import { natsBus } from '../../src/bus/nats/index.js';
import { rabbitmqBus } from '../../src/bus/rabbitmq/index.js';
import { redisBus } from '../../src/bus/redis/index.js';
import { dropSchema, storeTargets } from '../support/stores.js';

const TOO_LONG = 2 ** 31; // Node's timers clamp anything above 2^31 − 1 ms to 1 ms.
const p = defineProjection({ name: 'p', handlers: { 'x.a': async () => Promise.resolve() } });

/** Each entry builds something with one bad timer option; the error must name the option and its value. */
const timerCases: [string, (store: EventStore) => unknown][] = [
  ['pollIntervalMs', (s) => createRelay(s, { pollIntervalMs: TOO_LONG })],
  ['leaseMs', (s) => createRelay(s, { leaseMs: TOO_LONG })],
  ['standbyPollMs', (s) => createRelay(s, { standbyPollMs: TOO_LONG })],
  ['publishTimeoutMs', (s) => createRelay(s, { publishTimeoutMs: TOO_LONG })],
  ['initialBackoffMs', (s) => createRelay(s, { initialBackoffMs: TOO_LONG })],
  ['maxBackoffMs', (s) => createRelay(s, { maxBackoffMs: 1e12 })],
  ['pollIntervalMs', (s) => createWorker(s, { from: 'log', consumers: [p], pollIntervalMs: TOO_LONG })],
  ['leaseTtlMs', (s) => createWorker(s, { from: 'log', consumers: [p], leaseTtlMs: TOO_LONG })],
  ['heartbeatMs', (s) => createWorker(s, { from: 'log', consumers: [p], heartbeatMs: TOO_LONG })],
  ['parkedPollMs', (s) => createWorker(s, { from: 'log', consumers: [p], parkedPollMs: TOO_LONG })],
  [
    'retry.maxDelayMs',
    (s) => createWorker(s, { from: 'log', consumers: [p], retry: { maxDelayMs: TOO_LONG } }),
  ],
  [
    'breaker.coolDownMs',
    (s) => createWorker(s, { from: 'log', consumers: [p], breaker: { coolDownMs: TOO_LONG } }),
  ],
  [
    'breaker.windowMs',
    (s) => createWorker(s, { from: 'log', consumers: [p], breaker: { windowMs: 10n as never } }),
  ],
  ['pollMs', (s) => createProjections(s, { projections: [], pollMs: TOO_LONG })],
  ['graceMs', (s) => createProjections(s, { projections: [], graceMs: TOO_LONG })],
  ['connectTimeoutMs', () => natsBus({ servers: 'nats://127.0.0.1:4222', connectTimeoutMs: TOO_LONG })],
  ['ackWaitMs', () => natsBus({ servers: 'nats://127.0.0.1:4222', ackWaitMs: TOO_LONG })],
  ['backoffMs[0]', () => natsBus({ servers: 'nats://127.0.0.1:4222', backoffMs: [TOO_LONG] })],
  ['claimIdleMs', () => redisBus({ url: 'redis://127.0.0.1:6379', claimIdleMs: TOO_LONG })],
  ['connectTimeoutMs', () => rabbitmqBus({ url: 'amqp://127.0.0.1', connectTimeoutMs: TOO_LONG })],
];

/** Read sizes must stay within what readLog accepts, or the component would fail on its first read. */
const sizeCases: [string, (store: EventStore) => unknown][] = [
  ['batchSize', (s) => createRelay(s, { batchSize: 10_001 })],
  ['readBatchSize', (s) => createWorker(s, { from: 'log', consumers: [p], readBatchSize: 10_001 })],
  ['batchSize', (s) => createWorker(s, { from: 'log', consumers: [p], batchSize: 10_001 })],
  ['pageSize', (s) => createProjections(s, { projections: [], pageSize: 10_001 })],
];

describe('options are bounded', () => {
  let store: EventStore;
  beforeAll(async () => {
    store = await createEventStore();
  });
  afterAll(async () => {
    await store.close();
  });

  it.each(timerCases)('timer option %s above 2^31 − 1 ms is refused', (name, build) => {
    let error: unknown;
    try {
      build(store);
    } catch (e) {
      error = e;
    }
    expect(isEventlaneError(error, ErrorCodes.INVALID_ARGUMENT), String(error)).toBe(true);
    expect((error as Error).message).toContain(`${name} must be a whole number of milliseconds`);
    expect((error as Error).message).toMatch(
      /2147483647 \(about 24\.8 days\), got (2147483648|1000000000000|10n)\.$/,
    );
  });

  it.each(sizeCases)('read size %s above 10,000 is refused', (name, build) => {
    let error: unknown;
    try {
      build(store);
    } catch (e) {
      error = e;
    }
    expect(isEventlaneError(error, ErrorCodes.INVALID_ARGUMENT), String(error)).toBe(true);
    expect((error as Error).message).toMatch(new RegExp(`${name.replace('.', '\\.')} must be .*10000`));
  });
});

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`parked-event admin refuses bad ids on ${target.name}`, () => {
    let store: EventStore;
    beforeAll(async () => {
      store = await target.open();
    });
    afterAll(async () => {
      await store.close();
      if (target.name === 'pg') await dropSchema(store.schema);
    });

    it.each([
      ['retry', '9999999999999999999'],
      ['skip', '9999999999999999999'],
      ['retry', '0'],
    ])('%s(%s) is a typed not-found', async (op, id) => {
      const parked = parkedEvents(store);
      const call = op === 'retry' ? parked.retry(id) : parked.skip(id, { by: 'ops' });
      await expect(call).rejects.toMatchObject({ code: ErrorCodes.PARKED_EVENT_NOT_FOUND });
    });

    it.each([[10n], [{ toString: () => '1' }], [-1]])('retry(%s) is a typed invalid argument', async (id) => {
      const parked = parkedEvents(store);
      const error = await Promise.resolve()
        .then(() => parked.retry(id as never))
        .catch((e: unknown) => e);
      expect(isEventlaneError(error, ErrorCodes.INVALID_ARGUMENT), String(error)).toBe(true);
    });

    it('refuses a BigInt or cyclic list limit with a typed error', async () => {
      const parked = parkedEvents(store);
      await expect(parked.list({ limit: 5n as never })).rejects.toMatchObject({
        code: ErrorCodes.INVALID_ARGUMENT,
      });
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expect(parked.list({ status: [cyclic] as never })).rejects.toMatchObject({
        code: ErrorCodes.INVALID_ARGUMENT,
      });
      await expect(parked.skip('1', { by: 'ops', reason: cyclic as never })).rejects.toMatchObject({
        code: ErrorCodes.INVALID_ARGUMENT,
      });
    });
  });
}
