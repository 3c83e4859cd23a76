import { describe, expect, it } from 'vitest';
import { decodeCloudEvent, toCloudEvent } from '../../src/bus/cloudevents.js';
import type { StoredEvent } from '../../src/events/envelope.js';
import { isEventlaneError, type InvalidBusMessageError } from '../../src/errors.js';

const event: StoredEvent = {
  id: '0191e5f0-0000-7000-8000-000000000001',
  type: 'order.paid',
  version: 2,
  stream: 'order-42',
  streamPosition: 7,
  globalPosition: 12345n,
  checkpoint: '991:12345',
  data: { amount: 10 },
  metadata: { correlationId: 'c-1', actor: 'ann' },
  occurredAt: new Date('2026-01-02T03:04:05.678Z'),
  recordedAt: new Date('2026-01-02T03:04:06.000Z'),
};

/** The valid wire form of `event` with some attributes replaced (or removed when `undefined`). */
function wire(changes: Record<string, unknown>): string {
  const ce: Record<string, unknown> = { ...toCloudEvent(event, { partition: 1 }) };
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete ce[k];
    else ce[k] = v;
  }
  return JSON.stringify(ce);
}

function rejection(input: string | Uint8Array): InvalidBusMessageError {
  try {
    decodeCloudEvent(input);
  } catch (error) {
    expect(isEventlaneError(error, 'EVENTLANE_INVALID_BUS_MESSAGE')).toBe(true);
    return error as InvalidBusMessageError;
  }
  throw new Error(`accepted ${typeof input === 'string' ? input.slice(0, 200) : 'bytes'}`);
}

describe('decodeCloudEvent checks a message as strictly as append checks a new event', () => {
  it('accepts what the relay publishes', () => {
    expect(decodeCloudEvent(wire({}))).toEqual(event);
  });

  it('says which kind of problem a message has', () => {
    expect(rejection('not json').reason).toBe('not_json');
    expect(rejection(new Uint8Array([0xff, 0xfe, 0x00, 0x01])).reason).toBe('not_json');
    expect(rejection('[]').reason).toBe('not_cloudevent');
    expect(rejection('null').reason).toBe('not_cloudevent');
    expect(rejection('"text"').reason).toBe('not_cloudevent');
    expect(rejection('{"hello":"world"}').reason).toBe('not_cloudevent');
    expect(rejection('{"specversion":"0.3"}').reason).toBe('not_cloudevent');
  });

  const invalid: [string, Record<string, unknown>, string][] = [
    ['a non-UUID id', { id: 'x' }, 'id'],
    ['an id that is a number', { id: 42 }, 'id'],
    ['an empty subject', { subject: '' }, 'subject'],
    ['a blank subject', { subject: '   ' }, 'subject'],
    ['a NUL in the subject', { subject: 'order\u0000-1' }, 'subject'],
    ['a subject too long for a stream name', { subject: 'x'.repeat(257) }, 'subject'],
    ['__proto__ as type', { type: '__proto__' }, 'type'],
    ['an empty type', { type: '' }, 'type'],
    ['a type with spaces', { type: 'order paid' }, 'type'],
    ['a sequence that decodes to Infinity', { sequence: '9'.repeat(400) }, 'sequence'],
    ['a sequence beyond the safe integers', { sequence: '9007199254740993' }, 'sequence'],
    ['a zero sequence', { sequence: '00000000000000000000' }, 'sequence'],
    ['a negative sequence', { sequence: '-1' }, 'sequence'],
    ['a fractional sequence', { sequence: '1.5' }, 'sequence'],
    ['a zero dataversion', { dataversion: '0' }, 'dataversion'],
    ['a huge dataversion', { dataversion: '99999999999' }, 'dataversion'],
    ['a zero global position', { elglobalposition: '0' }, 'elglobalposition'],
    ['a global position beyond bigint', { elglobalposition: '9223372036854775808' }, 'elglobalposition'],
    ['a missing global position', { elglobalposition: undefined }, 'elglobalposition'],
    ['null metadata', { elmetadata: 'null' }, 'elmetadata'],
    ['metadata that is an array', { elmetadata: '[1]' }, 'elmetadata'],
    ['metadata that is a number', { elmetadata: '3' }, 'elmetadata'],
    ['metadata that is not JSON', { elmetadata: '{' }, 'elmetadata'],
    ['metadata holding a NUL', { elmetadata: '{"a":"\\u0000"}' }, 'elmetadata'],
    ['a correlation id that is not a string', { correlationid: 7 }, 'correlationid'],
    ['missing data', { data: undefined }, 'data'],
    ['data holding a NUL', { data: { s: 'a\u0000b' } }, 'data'],
    ['data holding an unpaired surrogate', { data: '\ud800' }, 'data'],
    ['a time that is not a time', { time: 'Tuesday' }, 'time'],
    ['a number as time', { time: '1' }, 'time'],
    ['an invalid recorded time', { elrecordedat: '2026-13-45T99:00:00Z' }, 'elrecordedat'],
    ['a checkpoint that does not parse', { elcheckpoint: 'abc' }, 'elcheckpoint'],
    ['a checkpoint out of range', { elcheckpoint: '0:99999999999999999999' }, 'elcheckpoint'],
    ['a negative partition', { elpartition: -1 }, 'elpartition'],
  ];
  for (const [what, changes, attribute] of invalid) {
    it(`refuses ${what}`, () => {
      const error = rejection(wire(changes));
      expect(error.reason).toBe('invalid_attribute');
      expect(error.attribute).toBe(attribute);
      expect(error.message).toContain(attribute);
    });
  }

  it('refuses data nested deeper than the checks can walk with a typed error, not a RangeError', () => {
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const text = wire({}).replace('"data":{"amount":10}', `"data":${deep}`);
    const error = rejection(text);
    expect(error.attribute).toBe('data');
  });

  it('keeps a metadata key named __proto__ an ordinary key', () => {
    const decoded = decodeCloudEvent(wire({ elmetadata: '{"__proto__":{"polluted":true}}' }));
    expect(Object.hasOwn(decoded.metadata, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
