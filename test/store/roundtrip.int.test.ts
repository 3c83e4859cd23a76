import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOG_START, type EventStore, type JsonValue, type NewEvent } from '../../src/index.js';
import { dropSchema, storeTargets } from '../support/stores.js';

/** JSON that PostgreSQL's jsonb holds as given: no NUL characters, no lone surrogates, no -0. */
function storable(value: unknown): boolean {
  if (typeof value === 'string') return !value.includes('\u0000') && value.isWellFormed();
  if (typeof value === 'number') return !Object.is(value, -0);
  if (Array.isArray(value)) return value.every(storable);
  if (value && typeof value === 'object')
    return Object.entries(value).every(([k, v]) => storable(k) && storable(v));
  return true;
}

const eventArb = fc.record({
  type: fc.constantFrom('order.created', 'order.paid', 'order.shipped', 'cart.item_added'),
  version: fc.integer({ min: 1, max: 5 }),
  data: fc.jsonValue({ maxDepth: 3 }).filter(storable),
  metadata: fc.option(fc.record({ correlationId: fc.uuid(), actor: fc.string() }).filter(storable), {
    nil: undefined,
  }),
});
const appendsArb = fc.array(
  fc.record({
    stream: fc.integer({ min: 0, max: 3 }),
    events: fc.array(eventArb, { minLength: 1, maxLength: 6 }),
  }),
  { minLength: 1, maxLength: 8 },
);

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`round trip on ${target.name}`, () => {
    let store: EventStore;
    let run = 0;
    let last = LOG_START;
    beforeAll(async () => {
      store = await target.open();
    });
    afterAll(async () => {
      await store?.close();
      if (target.name === 'pg') await dropSchema(store.schema);
    });

    it('any valid sequence of appends reads back identically, per stream and in the log', async () => {
      await fc.assert(
        fc.asyncProperty(appendsArb, async (appends) => {
          const prefix = `rt${run++}-`;
          const start = last;
          const expected = new Map<string, NewEvent[]>();
          const order: string[] = [];
          for (const { stream, events } of appends) {
            const name = `${prefix}${stream}`;
            const result = await store.append(name, events);
            const before = expected.get(name) ?? [];
            expect(result.positions[0]).toBe(before.length + 1);
            expected.set(name, [...before, ...(events as NewEvent[])]);
            order.push(...result.ids);
            last = result.checkpoint;
          }
          for (const [name, events] of expected) {
            const read = await store.readStream(name);
            expect(
              read.map((e) => ({ type: e.type, version: e.version, data: e.data, metadata: e.metadata })),
            ).toEqual(
              events.map((e) => ({
                type: e.type,
                version: e.version,
                data: e.data as JsonValue,
                metadata: e.metadata ?? {},
              })),
            );
          }
          // Other transactions on the same server (other test files) may hold the log's readable end back
          // for a moment: read until every appended event has arrived, then compare the order.
          const seen: string[] = [];
          let after = start;
          for (let i = 0; seen.length < order.length && i < 500; i++) {
            const page = await store.readLog({ after, limit: 10_000 });
            seen.push(...page.events.map((e) => e.id));
            after = page.checkpoint;
            if (page.events.length === 0) await new Promise((r) => setTimeout(r, 10));
          }
          expect(seen).toEqual(order);
        }),
        { numRuns: 40 },
      );
    });
  });
}
