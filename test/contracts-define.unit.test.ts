import type { StandardSchemaV1 } from '@standard-schema/spec';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createContractRegistry,
  defineEvent,
  ErrorCodes,
  isEventlaneError,
  type SchemaValidationError,
} from '../src/index.js';
import { OrderCreated, OrderPaid } from './fixtures/contracts/events.js';

const v1 = z.object({ amount: z.number() });

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('defineEvent', () => {
  it('creates events at the current version with a UUIDv7 id', () => {
    const e = OrderPaid.create(
      { orderId: 'o-1', amount: 5, currency: 'EUR' },
      { metadata: { actor: 'u-1' } },
    );
    expect(e).toMatchObject({
      type: 'order.paid',
      version: 2,
      data: { amount: 5 },
      metadata: { actor: 'u-1' },
    });
    expect(e.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    const again = OrderPaid.create({ orderId: 'o-1', amount: 5, currency: 'EUR' }, { id: e.id });
    expect(again.id).toBe(e.id);
  });

  it('upcasts through the whole chain', () => {
    expect(OrderCreated.upcastData(1, { orderId: 'o', total: 1.5 })).toEqual({
      orderId: 'o',
      totalCents: 150,
      currency: 'EUR',
      items: [],
    });
    expect(OrderCreated.upcastData(3, { x: 1 })).toEqual({ x: 1 });
    expect(
      isEventlaneError(
        thrown(() => OrderCreated.upcastData(4, {})),
        ErrorCodes.UPCAST,
      ),
    ).toBe(true);
  });

  it('wraps an upcaster that throws, naming the step', () => {
    const Bad = defineEvent({
      type: 'bad.event',
      owner: 't',
      versions: { 1: v1, 2: v1 },
      upcast: {
        1: () => {
          throw new Error('boom');
        },
      },
    });
    const error = thrown(() => Bad.upcastData(1, { amount: 1 })) as Error;
    expect(isEventlaneError(error, ErrorCodes.UPCAST)).toBe(true);
    expect(error.message).toContain('from v1 to v2 threw: boom');
  });

  it('refuses an upcaster that returns a Promise', () => {
    const Async = defineEvent({
      type: 'async.upcast',
      owner: 't',
      versions: { 1: v1, 2: v1 },
      upcast: {
        1: ((d: { amount: number }) => Promise.resolve(d)) as unknown as (d: { amount: number }) => {
          amount: number;
        },
      },
    });
    const error = thrown(() => Async.upcastData(1, { amount: 1 })) as Error;
    expect(isEventlaneError(error, ErrorCodes.UPCAST)).toBe(true);
    expect(error.message).toContain('returned a Promise');
  });

  it('refuses malformed contracts at run time too (for JavaScript callers)', () => {
    const cases: [unknown, RegExp][] = [
      [{ type: 'Bad Type', owner: 'x', versions: { 1: v1 }, upcast: {} }, /type/],
      [{ type: 'a.b', owner: '', versions: { 1: v1 }, upcast: {} }, /owner/],
      [
        { type: 'a.b', owner: 'x', versions: { 1: v1, 3: v1 }, upcast: { 1: (d: unknown) => d } },
        /without gaps/,
      ],
      [{ type: 'a.b', owner: 'x', versions: { 1: v1, 2: v1 }, upcast: {} }, /upcast\[1\] is missing/],
      [
        { type: 'a.b', owner: 'x', versions: { 1: { notASchema: true } }, upcast: {} },
        /not a Standard Schema/,
      ],
      [
        { type: 'a.b', owner: 'x', versions: { 1: v1 }, upcast: { 1: (d: unknown) => d } },
        /no place in the chain/,
      ],
      [
        { type: 'a.b', owner: 'x', versions: { 1: v1 }, upcast: {}, window: { versions: 0 } },
        /window.versions/,
      ],
      [
        { type: 'a.b', owner: 'x', versions: { 1: v1 }, upcast: {}, deprecated: { since: 'soon' } },
        /ISO date/,
      ],
      [
        { type: 'a.b', owner: 'x', versions: { 1: v1 }, upcast: {}, colour: 'red' },
        /unknown option "colour"/,
      ],
    ];
    for (const [options, message] of cases) {
      const error = thrown(() => defineEvent(options as never)) as Error;
      expect(isEventlaneError(error, ErrorCodes.INVALID_CONTRACT), String(message)).toBe(true);
      expect(error.message).toMatch(message);
    }
  });

  it('derives JSON Schema (draft-07) from zod through Standard JSON Schema', () => {
    expect(OrderPaid.jsonSchema(2)).toMatchObject({
      type: 'object',
      properties: { currency: { enum: ['EUR', 'USD', 'GBP'] } },
      required: ['orderId', 'amount', 'currency'],
    });
  });
});

describe('other Standard Schema libraries', () => {
  /** A hand-written Standard Schema (what valibot or arktype provide), without Standard JSON Schema. */
  const positive: StandardSchemaV1<{ n: number }> = {
    '~standard': {
      version: 1,
      vendor: 'handmade',
      validate: (value) =>
        typeof value === 'object' && value !== null && typeof (value as { n?: unknown }).n === 'number'
          ? { value: value as { n: number } }
          : { issues: [{ message: 'expected { n: number }', path: ['n'] }] },
    },
  };

  it('validates through the Standard Schema interface', () => {
    const Counted = defineEvent({
      type: 'counter.counted',
      owner: 't',
      versions: { 1: positive },
      upcast: {},
    });
    const registry = createContractRegistry([Counted]);
    expect(registry.validate([Counted.create({ n: 1 })])).toHaveLength(1);
    const error = thrown(() => registry.validate([{ type: 'counter.counted', data: { n: 'x' } }])) as Error;
    expect(error.message).toContain('data.n: expected { n: number }');
  });

  it('needs the jsonSchema option for snapshots and docs, and says so', () => {
    const Without = defineEvent({
      type: 'counter.counted',
      owner: 't',
      versions: { 1: positive },
      upcast: {},
    });
    expect(() => Without.jsonSchema(1)).toThrow(/does not implement Standard JSON Schema.*jsonSchema/);
    const With = defineEvent({
      type: 'counter.counted',
      owner: 't',
      versions: { 1: positive },
      upcast: {},
      jsonSchema: { 1: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] } },
    });
    expect(With.jsonSchema(1)).toMatchObject({ required: ['n'] });
  });
});

describe('contract registry', () => {
  const registry = createContractRegistry([OrderCreated, OrderPaid]);

  it('validates synchronously and lists every issue with its path', () => {
    const error = thrown(() =>
      registry.validate([
        OrderPaid.create({ orderId: 'o', amount: 1, currency: 'EUR' }),
        { type: 'order.paid', version: 2, data: { orderId: 7, amount: 'x', currency: 'CHF' } },
      ]),
    ) as SchemaValidationError;
    expect(isEventlaneError(error, ErrorCodes.SCHEMA_VALIDATION)).toBe(true);
    expect(error.issues.map((i) => [i.index, i.path])).toEqual([
      [1, 'data.orderId'],
      [1, 'data.amount'],
      [1, 'data.currency'],
    ]);
    expect(error.message).toContain(
      'events[1] order.paid v2 data.amount: Invalid input: expected number, received string',
    );
  });

  it('gives nested paths', () => {
    const error = thrown(() =>
      registry.validate([
        {
          type: 'order.created',
          version: 3,
          data: {
            orderId: 'o',
            totalCents: 1,
            currency: 'EUR',
            items: [
              { sku: 'a', quantity: 1 },
              { sku: 'b', quantity: 0 },
            ],
          },
        },
      ]),
    ) as SchemaValidationError;
    expect(error.issues[0]?.path).toBe('data.items[1].quantity');
  });

  it('validates an old version against its own schema and refuses an undeclared version', () => {
    expect(
      registry.validate([{ type: 'order.paid', version: 1, data: { orderId: 'o', amount: 1 } }]),
    ).toHaveLength(1);
    const error = thrown(() => registry.validate([{ type: 'order.paid', version: 9, data: {} }])) as Error;
    expect(error.message).toContain('version 9 is not declared; declared versions are 1, 2');
  });

  it('rejects or allows undeclared types by policy', () => {
    const error = thrown(() => registry.validate([{ type: 'order.refunded', data: {} }])) as Error;
    expect(isEventlaneError(error, ErrorCodes.UNDECLARED_EVENT)).toBe(true);
    expect(error.message).toContain('order.refunded');
    const lenient = createContractRegistry([OrderPaid], { undeclaredEvents: 'allow' });
    const events = [{ type: 'order.refunded', data: {} }];
    expect(lenient.validate(events)).toBe(events);
  });

  it('awaits schemas that validate asynchronously', async () => {
    const Async = defineEvent({
      type: 'async.checked',
      owner: 't',
      versions: {
        1: z.object({ n: z.number() }).refine(async (d) => Promise.resolve(d.n > 0), 'n must be positive'),
      },
      upcast: {},
    });
    const r = createContractRegistry([Async]);
    const ok = r.validate([Async.create({ n: 1 })]);
    expect(ok).toBeInstanceOf(Promise);
    await expect(ok).resolves.toHaveLength(1);
    await expect(r.validate([Async.create({ n: -1 })])).rejects.toMatchObject({
      code: ErrorCodes.SCHEMA_VALIDATION,
    });
  });

  it('upcasts events from a bus and leaves current ones as they are', () => {
    const old = { type: 'order.paid', version: 1, data: { orderId: 'o', amount: 2 } };
    expect(registry.upcast(old)).toEqual({
      type: 'order.paid',
      version: 2,
      data: { orderId: 'o', amount: 2, currency: 'EUR' },
    });
    expect(old.version).toBe(1);
    const current = { type: 'order.paid', version: 2, data: {} };
    expect(registry.upcast(current)).toBe(current);
  });

  it('refuses two contracts of one type', () => {
    expect(() => createContractRegistry([OrderPaid, OrderPaid])).toThrow(/twice/);
  });
});
