import { describe, expect, it } from 'vitest';
import { decodeCloudEvent, toCloudEvent } from '../../src/bus/cloudevents.js';
import { quoteIdent } from '../../src/store/names.js';
import { readLogWire } from '../../src/relay/read-wire.js';
import { dropSchema, storeTargets } from '../support/stores.js';

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`CloudEvents built by PostgreSQL (${target.name})`, () => {
    it('decode to exactly the events readLog returns, and carry the same attributes', async () => {
      const store = await target.open();
      try {
        // First, so that global positions 1…15 share one transaction: sorted as text they would be 1, 10, 11, …
        await store.append(
          'batch',
          Array.from({ length: 15 }, (_, i) => ({ type: 'x.y', data: { i } })),
        );
        await store.append('order-1', [
          {
            type: 'order.created',
            data: { total: 10.5, items: [{ sku: 'a', n: 1 }], big: 12345678901234, tiny: 1e-7 },
          },
          {
            type: 'order.paid',
            version: 3,
            data: 'just a string',
            metadata: {
              correlationId: 'c-1',
              causationId: 'e-0',
              traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
              tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
              actor: 'ann',
            },
            occurredAt: new Date('1999-12-31T23:59:59.999Z'),
          },
        ]);
        await store.append('kunde-ünïcødé 🚀', [
          {
            type: 'customer.noted',
            data: [true, false],
            metadata: { correlationId: 42 as unknown as string, nested: { a: [1, null, 'x'] } },
          },
          { type: 'customer.noted', data: { quote: 'he said "hi"\n\\' }, metadata: {} },
          // Only a correlationId, but not a string: it stays in elmetadata (the SQL's shortcut must not drop it).
          { type: 'customer.noted', data: null, metadata: { correlationId: 7 as unknown as string } },
          { type: 'customer.noted', data: 0, metadata: { causationId: 'e-9' } },
        ]);
        // Trace context stored before append checked it (written here behind append's back): not W3C, so it
        // travels inside elmetadata on both paths; a valid tracestate beside a bad traceparent goes with it.
        await store.append('legacy-trace', [
          { type: 'x.y', data: 1 },
          { type: 'x.y', data: 2 },
        ]);
        await store.executor.query(
          `update ${quoteIdent(store.schema)}.events set metadata = case stream_position
             when 1 then '{"traceparent": "00-abc-def-01", "tracestate": "rojo=1"}'::jsonb
             else '{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "a=1,,b"}'::jsonb
           end where stream = 'legacy-trace'`,
        );
        // More than ten of each so that an ordering by text instead of by number would show.
        for (let i = 0; i < 12; i++) await store.append(`s-${i % 3}`, [{ type: 'x.y', data: { i } }]);
        // Both reads see only transactions older than the oldest running one in the whole cluster (other test files
        // share it), so wait until everything appended here is readable by both.
        const appended = 15 + 2 + 4 + 2 + 12;
        let events = (await store.readLog()).events;
        let wire = await readLogWire(store.executor, quoteIdent(store.schema), '0:0', 100, '/orders');
        for (let i = 0; i < 200 && (events.length < appended || wire.events.length < appended); i++) {
          await new Promise((r) => setTimeout(r, 25));
          events = (await store.readLog()).events;
          wire = await readLogWire(store.executor, quoteIdent(store.schema), '0:0', 100, '/orders');
        }
        expect(events.length).toBe(appended);
        expect(wire.events.length).toBe(events.length);
        for (let i = 0; i < events.length; i++) {
          const expected = events[i]!;
          const { event, payload } = wire.events[i]!;
          expect(decodeCloudEvent(payload)).toEqual(expected);
          expect(event.id).toBe(expected.id);
          expect(event.checkpoint).toBe(expected.checkpoint);
          expect(event.data).toEqual(expected.data);
          expect(event.occurredAt).toEqual(expected.occurredAt);
          const attributes = JSON.parse(payload) as Record<string, unknown>;
          const reference = toCloudEvent(expected, { source: '/orders' }) as unknown as Record<
            string,
            unknown
          >;
          for (const key of Object.keys(reference)) {
            if (key === 'elmetadata')
              expect(JSON.parse(attributes[key] as string)).toEqual(JSON.parse(reference[key] as string));
            else expect(attributes[key]).toEqual(reference[key]);
          }
          expect(Object.keys(attributes).sort()).toEqual(Object.keys(reference).sort());
        }
        expect(wire.checkpoint).toBe(events[events.length - 1]!.checkpoint);
      } finally {
        await store.close();
        if (store.driver === 'pg') await dropSchema(store.schema);
      }
    });
  });
}
