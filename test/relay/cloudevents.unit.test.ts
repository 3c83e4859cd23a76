import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCloudEvent, encodeCloudEvent, toCloudEvent } from '../../src/bus/cloudevents.js';
import type { StoredEvent } from '../../src/events/envelope.js';
import { isEventlaneError } from '../../src/errors.js';

const date = fc.date({
  min: new Date('1970-01-01T00:00:00Z'),
  max: new Date('2999-12-31T23:59:59Z'),
  noInvalidDate: true,
});

const storedEvent: fc.Arbitrary<StoredEvent> = fc.record({
  id: fc.uuid(),
  type: fc.stringMatching(/^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*){0,3}$/),
  version: fc.integer({ min: 1, max: 1000 }),
  stream: fc
    .string({ minLength: 1, maxLength: 40 })
    .filter((s) => s.trim().length > 0 && [...s].every((c) => c >= ' ' && c !== '\u007f')),
  streamPosition: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  globalPosition: fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }),
  checkpoint: fc
    .tuple(fc.bigInt({ min: 1n, max: 2n ** 63n }), fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }))
    .map(([a, b]) => `${a}:${b}`),
  data: fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v))),
  metadata: fc
    .record(
      {
        correlationId: fc.oneof(fc.uuid(), fc.integer()),
        causationId: fc.uuid(),
        // Valid ones travel as attributes, anything else (stored before append checked it) inside elmetadata.
        traceparent: fc.oneof(
          fc.constant('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'),
          fc.string(),
        ),
        tracestate: fc.oneof(fc.constant('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'), fc.string()),
        actor: fc.string(),
      },
      { requiredKeys: [] },
    )
    .chain((known) =>
      fc
        .dictionary(fc.string(), fc.jsonValue())
        .map((extra) => JSON.parse(JSON.stringify({ ...extra, ...known }))),
    ),
  occurredAt: date,
  recordedAt: date,
});

describe('CloudEvents wire format', () => {
  it('round-trips every StoredEvent exactly', () => {
    fc.assert(
      fc.property(storedEvent, fc.integer({ min: 0, max: 1023 }), (event, partition) => {
        const text = encodeCloudEvent(event, { partition, source: '/orders' });
        expect(decodeCloudEvent(text)).toEqual(event);
        expect(decodeCloudEvent(Buffer.from(text))).toEqual(event);
      }),
      { numRuns: 500 },
    );
  });

  it('maps the standard attributes and extensions', () => {
    const event: StoredEvent = {
      id: '0191e5f0-0000-7000-8000-000000000001',
      type: 'order.paid',
      version: 2,
      stream: 'order-42',
      streamPosition: 7,
      globalPosition: 12345678901234n,
      checkpoint: '991:12345678901234',
      data: { amount: 10 },
      metadata: {
        correlationId: 'c-1',
        causationId: 'e-0',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        tracestate: 'rojo=00f067aa0ba902b7',
        actor: 'ann',
      },
      occurredAt: new Date('2026-01-02T03:04:05.678Z'),
      recordedAt: new Date('2026-01-02T03:04:06.000Z'),
    };
    expect(toCloudEvent(event, { partition: 3 })).toEqual({
      specversion: '1.0',
      id: event.id,
      source: '/eventlane',
      type: 'order.paid',
      subject: 'order-42',
      time: '2026-01-02T03:04:05.678Z',
      datacontenttype: 'application/json',
      data: { amount: 10 },
      partitionkey: 'order-42',
      sequence: '00000000000000000007',
      dataversion: '2',
      correlationid: 'c-1',
      causationid: 'e-0',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'rojo=00f067aa0ba902b7',
      elmetadata: '{"actor":"ann"}',
      elglobalposition: '12345678901234',
      elcheckpoint: '991:12345678901234',
      elrecordedat: '2026-01-02T03:04:06.000Z',
      elpartition: 3,
    });
  });

  it('refuses what is not an eventlane CloudEvent with a typed error', () => {
    for (const input of [
      'not json',
      '[]',
      '{"specversion":"0.3"}',
      JSON.stringify({ specversion: '1.0', id: 'x' }),
    ]) {
      let caught: unknown;
      try {
        decodeCloudEvent(input);
      } catch (error) {
        caught = error;
      }
      expect(isEventlaneError(caught, 'EVENTLANE_INVALID_BUS_MESSAGE')).toBe(true);
    }
  });
});
