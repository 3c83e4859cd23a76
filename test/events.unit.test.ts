import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isUuid, uuidv7 } from '../src/events/ids.js';
import { toJsonText } from '../src/events/json.js';
import { compareCheckpoints, parseCheckpoint } from '../src/store/names.js';
import { isEventlaneError } from '../src/errors.js';

describe('uuidv7', () => {
  it('has version 7, the RFC 9562 variant, and the creation millisecond up front', () => {
    const at = Date.UTC(2026, 10, 26, 12, 0, 0);
    const id = uuidv7(at + 10_000_000);
    expect(isUuid(id)).toBe(true);
    expect(id[14]).toBe('7');
    expect('89ab').toContain(id[19]);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBeGreaterThanOrEqual(at);
  });

  it('sorts in creation order within this process, even thousands per millisecond', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7());
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('toJsonText', () => {
  it('serializes plain JSON exactly as JSON.stringify does', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        fc.pre(!JSON.stringify(value).includes('\\u0000'));
        let text: string;
        try {
          text = toJsonText(value, 'data');
        } catch (error) {
          // Only strings PostgreSQL cannot store (unpaired surrogates) may be refused.
          expect(isEventlaneError(error, 'EVENTLANE_INVALID_EVENT')).toBe(true);
          expect((error as Error).message).toMatch(/unpaired UTF-16 surrogate|NUL/);
          return;
        }
        expect(text).toBe(JSON.stringify(value));
      }),
    );
  });

  it('leaves out undefined object properties, as JSON does', () => {
    expect(toJsonText({ a: 1, b: undefined }, 'data')).toBe('{"a":1}');
  });

  it('names the path of the offending value', () => {
    expect(() => toJsonText({ items: [{ ok: 1 }, { price: 1n }] }, 'data')).toThrow(
      /data\.items\[1\]\.price is a BigInt/,
    );
    expect(() => toJsonText({ 'odd key': { x: NaN } }, 'data')).toThrow(/data\["odd key"\]\.x is NaN/);
    expect(() => toJsonText(Object.create(null) as object, 'data')).not.toThrow();
  });

  it('accepts shared (non-cyclic) references', () => {
    const shared = { a: 1 };
    expect(toJsonText({ x: shared, y: [shared, shared] }, 'data')).toBe(
      '{"x":{"a":1},"y":[{"a":1},{"a":1}]}',
    );
  });
});

describe('checkpoints', () => {
  it('compare in (tx_order, global_position) order, numerically', () => {
    expect(compareCheckpoints('9:100', '10:1')).toBeLessThan(0);
    expect(compareCheckpoints('10:2', '10:10')).toBeLessThan(0);
    expect(compareCheckpoints('10:10', '10:10')).toBe(0);
    expect(parseCheckpoint('18446744073709551615:9223372036854775807').txOrder).toBe(18446744073709551615n);
  });

  it.each(['', '1', '1:', ':1', '-1:2', '1:2:3', 'a:b', ' 1:2'])('refuses %j', (bad) => {
    expect(() => parseCheckpoint(bad)).toThrow(
      expect.objectContaining({ code: 'EVENTLANE_INVALID_CHECKPOINT' }) as Error,
    );
  });
});
