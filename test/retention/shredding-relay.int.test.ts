import { afterEach, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import type { Delivery } from '../../src/bus/types.js';
import {
  createEventStore,
  createRelay,
  createWorker,
  defineEvent,
  defineProjection,
  ERASED_MARK,
} from '../../src/index.js';
import { quoteIdent } from '../../src/store/names.js';
import { cleanupBus, makeBus, uniqueBusId } from '../relay/support/buses.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, uniqueSchema } from '../support/stores.js';
import { scaled } from '../support/time.js';
import { waitFor } from '../consumers/helpers.js';

const UserRegistered = defineEvent({
  type: 'user.registered',
  owner: 'accounts',
  versions: { 1: z.object({ userId: z.string(), email: z.string(), plan: z.string() }) },
  personal: { subject: 'userId', fields: ['email'] },
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe.skipIf(!inject('services').nats || !inject('services').postgres)(
  'personal data through NATS',
  () => {
    it('the relay publishes fields decrypted, erased once forgotten; a bus consumer gets the store’s erased copy', async () => {
      const schema = uniqueSchema();
      cleanups.push(() => dropSchema(schema));
      const id = uniqueBusId();
      cleanups.push(() => cleanupBus('nats', id, ['sub', 'emails']));
      const store = await createEventStore({ url: SERVICES.postgres.url, schema, events: [UserRegistered] });
      cleanups.push(() => store.close());

      const seen: Delivery['event'][] = [];
      const sub = makeBus('nats', id, undefined, ['sub', 'emails']);
      await sub.connect({ partitions: 16 });
      cleanups.push(() => sub.close());
      await sub.subscribe({
        consumer: 'sub',
        partitions: Array.from({ length: 16 }, (_, i) => i),
        onMessage: async (d) => {
          seen.push(d.event);
          await d.ack();
        },
      });
      const relay = createRelay(store, {
        bus: makeBus('nats', id, undefined, ['sub', 'emails']),
        registry: null,
      });
      await relay.start();
      cleanups.push(async () => {
        await relay.stop();
        await relay.bus.close();
      });

      await store.append('user-n1', [
        UserRegistered.create({ userId: 'n1', email: 'n1@example.com', plan: 'free' }),
      ]);
      await waitFor('the first message', () => seen.length === 1, scaled(20_000));
      expect(seen[0]!.data).toEqual({ userId: 'n1', email: 'n1@example.com', plan: 'free' });
      expect(seen[0]!.metadata).toEqual({});

      await store.forget('n1');
      await store.append('user-n1', [
        UserRegistered.create({ userId: 'n1', email: 'again@example.com', plan: 'pro' }),
      ]);
      await store.append('user-n2', [
        UserRegistered.create({ userId: 'n2', email: 'n2@example.com', plan: 'free' }),
      ]);
      await waitFor('two more messages', () => seen.length === 3, scaled(20_000));
      // Published after the forget: n1's second event has a new key (readable); n2 is untouched.
      expect(seen.map((e) => (e.data as { email: string | null }).email).sort()).toEqual([
        'again@example.com',
        'n1@example.com',
        'n2@example.com',
      ]);

      // A relay that publishes the log after the forget (a new one, from the start) sends n1's first event erased.
      const id2 = uniqueBusId();
      cleanups.push(() => cleanupBus('nats', id2));
      const late: Delivery['event'][] = [];
      const sub2 = makeBus('nats', id2);
      await sub2.connect({ partitions: 16 });
      cleanups.push(() => sub2.close());
      await sub2.subscribe({
        consumer: 'sub',
        partitions: Array.from({ length: 16 }, (_, i) => i),
        onMessage: async (d) => {
          late.push(d.event);
          await d.ack();
        },
      });
      const relay2 = createRelay(store, { bus: makeBus('nats', id2), registry: null, name: 'late' });
      await relay2.start();
      cleanups.push(async () => {
        await relay2.stop();
        await relay2.bus.close();
      });
      await waitFor('the late relay published all three', () => late.length === 3, scaled(20_000));
      const first = late.find((e) => e.stream === 'user-n1' && e.streamPosition === 1)!;
      expect(first.data).toEqual({ userId: 'n1', email: null, plan: 'free' });
      expect(first.metadata[ERASED_MARK]).toEqual(['email']);

      // A bus consumer started now reads the stream from NATS, which still holds the first message in clear: the
      // worker hands its handler the store's copy, erased.
      const q = quoteIdent(schema);
      await store.executor.query(`create table ${q}.emails (id uuid primary key, email text, erased jsonb)`);
      const emails = defineProjection({
        name: 'emails',
        handlers: {
          'user.registered': async (e, { query }) => {
            await query(`insert into ${q}.emails values ($1, $2, $3)`, [
              e.id,
              (e.data as { email: string | null }).email,
              JSON.stringify(e.metadata[ERASED_MARK] ?? null),
            ]);
          },
        },
      });
      const bus = makeBus('nats', id, undefined, ['sub', 'emails']);
      const worker = createWorker(store, { from: bus, consumers: [emails], partitions: 16 });
      await worker.start();
      cleanups.push(async () => {
        await worker.stop();
        await bus.close();
      });
      await waitFor(
        'the worker applied the three events',
        async () => (await store.executor.query(`select 1 from ${q}.emails`)).length === 3,
        scaled(30_000),
      );
      const rows = await store.executor.query<{ email: string | null; erased: string[] | null }>(
        `select email, erased from ${q}.emails order by email nulls first`,
      );
      expect(rows).toEqual([
        { email: null, erased: ['email'] },
        { email: 'again@example.com', erased: null },
        { email: 'n2@example.com', erased: null },
      ]);
    });
  },
);
