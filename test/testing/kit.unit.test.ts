/* eslint-disable @typescript-eslint/require-await -- handlers must return promises (these have nothing to await) */
import { AssertionError } from 'node:assert';
import { describe, expect, it } from 'vitest';
import { defineProjection, defineReactor, type NewEvent } from '../../src/index.js';
import { deciderSpec, idempotencyKey, projectionSpec, reactorSpec } from '../../src/testing/index.js';
import { OrderPaid, OrderPlaced, orderTotals as totals } from '../fixtures/orders.js';

const events = [OrderPlaced, OrderPaid] as const;

type Order = { status: 'none' | 'placed' | 'paid'; total: number; paid: number };
type Command = { pay: number } | { place: number };

const order = {
  initialState: (): Order => ({ status: 'none', total: 0, paid: 0 }),
  evolve: (state: Order, e: { type: string; data: unknown }): Order => {
    if (e.type === 'order.placed')
      return { ...state, status: 'placed', total: (e.data as { total: number }).total };
    if (e.type === 'order.paid')
      return { ...state, status: 'paid', paid: (e.data as { amount: number }).amount };
    return state;
  },
  decide: (command: Command, state: Order): NewEvent[] => {
    if ('place' in command) return [OrderPlaced.create({ total: command.place })];
    if (state.status === 'paid') return [];
    if (state.status !== 'placed') throw new Error('cannot pay an order that was not placed');
    if (command.pay !== state.total) throw new RangeError(`pay ${command.pay}, the total is ${state.total}`);
    return [OrderPaid.create({ amount: command.pay, currency: 'EUR' })];
  },
};

/** The message an expectation failed with; fails the test when it did not fail. */
async function failure(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(AssertionError);
    return (error as Error).message;
  }
  throw new Error('the expectation passed, but it should have failed');
}

describe('deciderSpec', () => {
  const spec = deciderSpec(order, { events });

  it('given events, when a command, then the decided events (ids left out of the comparison)', async () => {
    await spec
      .given([OrderPlaced.create({ total: 10 })])
      .when({ pay: 10 })
      .then([OrderPaid.create({ amount: 10, currency: 'EUR' })]);
    await spec.when({ place: 3 }).then([{ type: 'order.placed', data: { total: 3 } }]);
    // A given version-1 event is upcast before evolve sees it, as the store would hand it over.
    await spec
      .given([OrderPlaced.create({ total: 10 }), { type: 'order.paid', version: 1, data: { amount: 10 } }])
      .when({ pay: 10 })
      .thenNothing();
  });

  it('thenThrows takes an Error class, a message part, a pattern, or a predicate', async () => {
    const placed = spec.given([OrderPlaced.create({ total: 10 })]);
    await placed.when({ pay: 7 }).thenThrows(RangeError);
    await placed.when({ pay: 7 }).thenThrows('the total is 10');
    await placed.when({ pay: 7 }).thenThrows(/pay 7/);
    await placed.when({ pay: 7 }).thenThrows((e) => e instanceof RangeError);
    await spec.when({ pay: 1 }).thenThrows('not placed');
  });

  it('fails with a readable message: what was decided against what was expected', async () => {
    const message = await failure(() =>
      spec
        .given([OrderPlaced.create({ total: 10 })])
        .when({ pay: 10 })
        .then([OrderPaid.create({ amount: 11, currency: 'EUR' })]),
    );
    expect(message).toContain(
      'deciderSpec: when {"pay":10} after 1 given event(s), the decided events differ:',
    );
    expect(message).toMatch(/\+ actual - expected/);
    expect(message).toMatch(/\+\s+amount: 10/);
    expect(message).toMatch(/-\s+amount: 11/);
  });

  it('fails readably when the decision throws, does not throw, throws otherwise, or breaks a contract', async () => {
    expect(await failure(() => spec.when({ pay: 1 }).then([]))).toMatch(
      /decide threw Error "cannot pay an order that was not placed" instead of deciding/,
    );
    expect(await failure(() => spec.when({ place: 1 }).thenThrows(Error))).toMatch(
      /expected it to throw, but it decided 1 event\(s\)/,
    );
    expect(await failure(() => spec.when({ pay: 1 }).thenThrows(RangeError))).toMatch(
      /it threw Error "cannot pay an order that was not placed", not what was expected/,
    );
    expect(await failure(() => spec.when({ place: -1 }).then([]))).toMatch(
      /decide returned an event its contract refuses: [\s\S]*data\.total: Too small/,
    );
    expect(await failure(() => spec.when({ place: 2 }).thenNothing())).toMatch(/expected no events/);
  });
});

describe('projectionSpec', () => {
  it('given events on streams, then the rows of a table, in any order', async () => {
    await projectionSpec(totals, { events })
      .given(
        [OrderPlaced.create({ total: 10 }), OrderPaid.create({ amount: 10, currency: 'EUR' })],
        'order-1',
      )
      .given([OrderPlaced.create({ total: 5 })], 'order-2')
      .then('order_totals', [
        { id: 'order-2', total: 5, paid: null },
        { id: 'order-1', total: 10, paid: 10 },
      ]);
  });

  it('a handler-only projection writes tables made by `setup`; a check of your own sees them', async () => {
    const counts = defineProjection({
      name: 'type_counts',
      handlers: {
        'order.placed': async (_e, { sql }) => {
          await sql`insert into type_counts (type, n) values ('placed', 1) on conflict (type) do update set n = type_counts.n + 1`;
        },
      },
    });
    await projectionSpec(counts, {
      setup: 'create table type_counts (type text primary key, n int not null)',
    })
      .given([OrderPlaced.create({ total: 1 })], 'order-1')
      .given([OrderPlaced.create({ total: 2 })], 'order-2')
      .then(async ({ query, events: seen }) => {
        expect(await query('select type, n from type_counts')).toEqual([{ type: 'placed', n: 2 }]);
        expect(seen.map((e) => [e.stream, e.streamPosition])).toEqual([
          ['order-1', 1],
          ['order-2', 1],
        ]);
      });
  });

  it('fails with a readable message naming the projection, the table and the differing rows', async () => {
    const message = await failure(() =>
      projectionSpec(totals)
        .given([OrderPlaced.create({ total: 10 })], 'order-1')
        .then('order_totals', [{ id: 'order-1', total: 12, paid: null }]),
    );
    expect(message).toContain(
      'projectionSpec "order_totals" after 1 given event(s), the rows of order_totals differ:',
    );
    expect(message).toMatch(/\+\s+total: 10/);
    expect(message).toMatch(/-\s+total: 12/);
    expect(await failure(() => projectionSpec(totals).then('orders', []))).toMatch(
      /it has no table "orders"; its tables: order_totals/,
    );
  });

  it('refuses a reactor, and leaves no schema behind', async () => {
    const r = defineReactor({ name: 'r', handlers: { 'a.b': async () => {} } });
    expect(() => projectionSpec(r as never)).toThrow(/is a reactor: use reactorSpec/);
    let schemas: unknown[] = [];
    await projectionSpec(totals).then(async ({ query }) => {
      schemas = await query(`select nspname from pg_namespace where nspname like 'eventlane_spec_%'`);
    });
    expect(schemas).toHaveLength(1);
    await projectionSpec(totals).then(async ({ query }) => {
      expect(
        await query(`select nspname from pg_namespace where nspname like 'eventlane_spec_%'`),
      ).toHaveLength(1);
    });
  });
});

describe('reactorSpec', () => {
  const sent: string[] = [];
  const receipts = defineReactor({
    name: 'receipt-mailer',
    events: [OrderPaid],
    handlers: {
      'order.paid': async (e, { effect }) => {
        if (e.data.amount === 0) return;
        const id = await effect('send-receipt', async (key) => {
          sent.push(key);
          return `mail-${e.data.currency}`;
        });
        // Asked again for the same event: the journal (and the fake) answer with the first result.
        await effect('send-receipt', async () => 'again');
        if (typeof id === 'string') await effect('log-receipt', async () => id);
      },
    },
  });

  it('records each effect asked for once, with the key the journal would use, without performing it', async () => {
    const paid = OrderPaid.create({ amount: 10, currency: 'EUR' });
    const free = OrderPaid.create({ amount: 0, currency: 'EUR' });
    const recorded = await reactorSpec(receipts)
      .given([paid, free], 'order-1')
      .then([{ effect: 'send-receipt', key: `receipt-mailer:${paid.id}:send-receipt` }]);
    expect(recorded).toEqual([
      {
        effect: 'send-receipt',
        key: idempotencyKey('receipt-mailer', paid.id, 'send-receipt'),
        eventId: paid.id,
        eventType: 'order.paid',
      },
    ]);
    expect(sent).toEqual([]);
    await reactorSpec(receipts).given([free]).thenNothing();
  });

  it("gives results by effect name, or performs effects ('perform') against fakes of your own", async () => {
    const paid = OrderPaid.create({ amount: 10, currency: 'USD' });
    await reactorSpec(receipts, { results: { 'send-receipt': () => 'mail-1' } })
      .given([paid])
      .then([
        { effect: 'send-receipt', key: `receipt-mailer:${paid.id}:send-receipt` },
        { effect: 'log-receipt', key: `receipt-mailer:${paid.id}:log-receipt` },
      ]);
    await reactorSpec(receipts, { mode: 'perform' }).given([paid]).effects();
    expect(sent).toEqual([`receipt-mailer:${paid.id}:send-receipt`]);
  });

  it('upcasts given events with the contracts, so handlers see the current version', async () => {
    const old = {
      id: '0190a0a0-0000-7000-8000-0000000000aa',
      type: 'order.paid',
      version: 1,
      data: { amount: 3 },
    };
    const recorded = await reactorSpec(receipts, { mode: 'perform' }).given([old]).effects();
    expect(recorded.map((r) => r.effect)).toEqual(['send-receipt', 'log-receipt']);
  });

  it('fails with a readable message listing the effects asked for against those expected', async () => {
    const paid = OrderPaid.create({ amount: 10, currency: 'EUR' });
    const message = await failure(() =>
      reactorSpec(receipts)
        .given([paid])
        .then([{ effect: 'send-invoice', key: `receipt-mailer:${paid.id}:send-invoice` }]),
    );
    expect(message).toContain(
      'reactorSpec "receipt-mailer" after 1 given event(s), the effects asked for differ:',
    );
    expect(message).toContain(`+     effect: 'send-receipt'`);
    expect(message).toContain(`-     effect: 'send-invoice'`);
    expect(await failure(() => reactorSpec(receipts).given([paid]).thenNothing())).toMatch(
      /expected no effects/,
    );
  });
});
