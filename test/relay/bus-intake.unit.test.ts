import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { encodeCloudEvent } from '../../src/bus/cloudevents.js';
import { createIntake, previewOf, type BusRejection } from '../../src/bus/intake.js';
import type { StoredEvent } from '../../src/events/envelope.js';

const event: StoredEvent = {
  id: '0191e5f0-0000-7000-8000-000000000001',
  type: 'order.paid',
  version: 1,
  stream: 'order-42',
  streamPosition: 1,
  globalPosition: 1n,
  checkpoint: '1:1',
  data: {},
  metadata: {},
  occurredAt: new Date('2026-01-02T03:04:05.000Z'),
  recordedAt: new Date('2026-01-02T03:04:05.000Z'),
};

describe('bus intake', () => {
  it('previews a raw message short, printable and without secrets', () => {
    const p = previewOf(
      '{"password":"hunter2","apiKey":"k-123","url":"amqp://ann:s3cret@host","x":"\u0000\u001b"}',
    );
    expect(p).not.toMatch(/hunter2|k-123|s3cret/);
    expect(p).toContain('"password":"***"');
    expect(p).toContain('amqp://ann:***@host');
    expect(p).toContain('\\u0000');
    const long = previewOf(Buffer.from('a'.repeat(10_000)));
    expect(long.length).toBeLessThan(300);
    expect(long).toContain('(10000 bytes)');
    expect(previewOf(Buffer.from([0xff, 0xfe]))).toBe('\\x??\\x??');
  });

  it('reports, counts and survives a throwing callback; passes a valid event through', () => {
    const registry = new Registry();
    const seen: BusRejection[] = [];
    const intake = createIntake('nats', {
      registry,
      maxIncomingBytes: 1000,
      onReject: () => {
        throw new Error('broken callback');
      },
    });
    const where = {
      consumer: 'c',
      partition: 3,
      onReject: (r: BusRejection) => seen.push(r),
      deadLetter: 'x.dlq.c',
    };
    expect(intake(encodeCloudEvent(event), where)).toEqual({ event });
    const tooLarge = intake('x'.repeat(1001), where);
    expect('rejection' in tooLarge && tooLarge.rejection.reason).toBe('too_large');
    intake('nope', where);
    expect(seen.map((r) => [r.reason, r.consumer, r.partition, r.deadLetter])).toEqual([
      ['too_large', 'c', 3, 'x.dlq.c'],
      ['not_json', 'c', 3, 'x.dlq.c'],
    ]);
    return registry
      .getSingleMetric('eventlane_bus_rejected_total')!
      .get()
      .then((m) => {
        expect(m.values.map((v) => [v.labels, v.value])).toEqual([
          [{ bus: 'nats', reason: 'too_large' }, 1],
          [{ bus: 'nats', reason: 'not_json' }, 1],
        ]);
      });
  });

  it('shares one counter per registry between buses', () => {
    const registry = new Registry();
    createIntake('nats', { registry });
    expect(() => createIntake('redis', { registry })).not.toThrow();
    expect(() => createIntake('redis', { registry: null })).not.toThrow();
  });
});
