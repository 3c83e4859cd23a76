import asyncapiSpecs from '@asyncapi/specs';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { consumersByType, renderAsyncApi, renderMarkdown } from '../src/index.js';
import { consumers, events } from './fixtures/contracts/events.js';

const extraConsumers = [
  ...consumers,
  { name: 'typo-reactor', kind: 'reactor' as const, handlers: { 'order.payed': () => {} } },
];

/**
 * The AsyncAPI 3.0.0 JSON Schema from @asyncapi/specs. It bundles its own copy of the draft-07 meta-schema,
 * which clashes with Ajv's built-in one, so Ajv's meta-schema is left out (meta: false).
 */
function asyncApiValidator() {
  const ajv = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false });
  addFormats.default(ajv);
  return ajv.compile(asyncapiSpecs.schemas['3.0.0']);
}

describe('contract docs', () => {
  it('derives consumers from registered handlers', () => {
    const byType = consumersByType(consumers);
    expect(byType.get('order.paid')).toEqual([
      { name: 'order_summary', kind: 'projection' },
      { name: 'receipt-mailer', kind: 'reactor' },
    ]);
    expect(byType.get('order.shipped')).toEqual([{ name: 'shipping-tracker', kind: 'consumer' }]);
    expect(() => consumersByType([{ name: 'x' } as never])).toThrow(/consumers\[0\]/);
  });

  it('writes a Markdown catalog with owners, producers, consumers and fields per version', () => {
    const md = renderMarkdown({ contracts: events, consumers: extraConsumers, title: 'Orders events' });
    expect(md).toContain('# Orders events');
    expect(md).toContain(
      '| [`order.paid`](#order-paid) | v2 | payments | payments, backoffice | order_summary (projection), receipt-mailer (reactor) | active |',
    );
    expect(md).toContain('### v3 (current)');
    expect(md).toContain('### v1 → upcast to v2');
    expect(md).toContain('| `items[].quantity` | integer | yes |');
    expect(md).toContain('| `currency` | `"EUR"` \\| `"USD"` \\| `"GBP"` | yes |');
    expect(md).toContain('**Deprecated** since 2026-10-01, sunset 2027-04-01: Use shipment.dispatched.');
    expect(md).toContain('## Handled but not declared');
    expect(md).toContain('`order.payed` | typo-reactor (reactor)');
  });

  it('writes an AsyncAPI 3.0 document that validates against the AsyncAPI 3.0.0 JSON Schema', () => {
    const doc = renderAsyncApi({ contracts: events, consumers });
    const validate = asyncApiValidator();
    const valid = validate(doc);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(Object.keys(doc.operations as object).sort()).toEqual([
      'order.created.receive.order_summary',
      'order.created.send.orders',
      'order.paid.receive.order_summary',
      'order.paid.receive.receipt-mailer',
      'order.paid.send.backoffice',
      'order.paid.send.payments',
      'order.shipped.receive.shipping-tracker',
      'order.shipped.send.logistics',
    ]);
  });

  it('a broken document fails the same validation (the test can fail)', () => {
    const doc = renderAsyncApi({ contracts: events, consumers });
    const validate = asyncApiValidator();
    expect(validate({ ...doc, operations: { bad: { action: 'publish', channel: {} } } })).toBe(false);
  });
});
