import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  createRelay,
  createWorker,
  defineProjection,
  defineReactor,
  type EventStore,
} from '../../src/index.js';
import { natsBus } from '../../src/bus/nats/index.js';
import { SERVICES } from '../support/services.js';
import { dropSchema } from '../support/stores.js';
import { cleanupBus } from '../relay/support/buses.js';
import { appendSpread, openPgStore, waitFor } from './helpers.js';
import { scaled } from '../support/time.js';

const EVENTS = 4000;
const STREAMS = 100;

/**
 * The bus path end to end on a real broker: the relay publishes the log to NATS JetStream, two workers of one
 * group share the partitions through leases and consume from NATS, handlers fail now and then. Every stream
 * must reach the projection complete and in order, and every reactor effect must be performed once per key.
 */
describe.skipIf(!inject('services').postgres || !inject('services').nats)(
  'consumers from NATS JetStream',
  () => {
    let store: EventStore | undefined;
    const suffix = randomBytes(4).toString('hex');
    afterAll(async () => {
      await cleanupBus('nats', `EL_CONSUMERS_${suffix}`);
      if (store) {
        await store.close();
        await dropSchema(store.schema);
      }
    });

    it(`${EVENTS} events over ${STREAMS} streams, relay → NATS → two workers: complete, in order, effects once`, async () => {
      store = await openPgStore({ poolSize: 12 });
      const s = store;
      await s.executor.query(
        `create table ${s.schema}.seen (stream text, position int, primary key (stream, position))`,
      );
      const bus = () =>
        natsBus({
          servers: SERVICES.nats.url,
          stream: `EL_CONSUMERS_${suffix}`,
          subjectPrefix: `elc${suffix}`,
          storage: 'memory',
          ackWaitMs: 2000,
          maxDeliver: 1000,
        });

      const effects = new Map<string, number>();
      let failures = 0;
      const seen = defineProjection({
        name: 'seen_positions',
        handlers: {
          'item.added': async (e, { query }) => {
            if (Math.random() < 0.03) {
              failures++;
              throw new Error('flaky projection');
            }
            await query(`insert into ${s.schema}.seen (stream, position) values ($1, $2)`, [
              e.stream,
              e.streamPosition,
            ]);
          },
        },
      });
      const mailer = defineReactor({
        name: 'mailer',
        handlers: {
          'item.added': async (_e, { effect }) => {
            await effect('notify', (key) => {
              effects.set(key, (effects.get(key) ?? 0) + 1);
              return Promise.resolve({ ok: true });
            });
          },
        },
      });

      const options = {
        consumers: [seen, mailer],
        leaseTtlMs: 3000,
        retry: { maxAttempts: 1000, baseDelayMs: 5, maxDelayMs: 50 },
        breaker: { threshold: 100_000, windowMs: 1000, coolDownMs: 100 },
      };
      const relay = createRelay(s, { bus: bus(), name: `nats-consumers-${suffix}`, registry: null });
      const w1 = createWorker(s, { ...options, from: bus(), workerId: 'w1' });
      const w2 = createWorker(s, { ...options, from: bus(), workerId: 'w2' });
      await relay.start();
      await w1.start();
      await w2.start();
      try {
        await appendSpread(s, EVENTS, STREAMS, 'nats');
        await waitFor(
          'every event applied by both consumers',
          async () => {
            const [row] = await s.executor.query<{ n: number }>(
              `select count(*)::int as n from ${s.schema}.seen`,
            );
            return row!.n === EVENTS && effects.size === EVENTS;
          },
          scaled(120_000),
          200,
        );
      } finally {
        await w1.stop();
        await w2.stop();
        await relay.stop();
      }

      // Contiguous positions per stream: nothing skipped, nothing applied twice (the primary key would refuse it).
      const gaps = await s.executor.query(
        `select stream from ${s.schema}.seen group by stream having max(position) <> count(*)`,
      );
      expect(gaps).toEqual([]);
      const streams = await s.executor.query<{ version: string }>(`select version from ${s.schema}.streams`);
      expect(streams.reduce((sum, r) => sum + Number(r.version), 0)).toBe(EVENTS);
      expect([...effects.values()].every((n) => n === 1)).toBe(true);
      expect(failures).toBeGreaterThan(0);
      console.log(
        `[nats-worker] ${EVENTS} events, ${failures} handler failures retried, ${effects.size} effects once each`,
      );
    });
  },
);
