import { describe, expect, it } from 'vitest';
import { embeddedBus } from '../../src/bus/embedded/index.js';
import type { BusMessage, Delivery } from '../../src/bus/types.js';
import type { StoredEvent } from '../../src/events/envelope.js';
import { isEventlaneError } from '../../src/errors.js';

function message(stream: string, position: number, partition = 0): BusMessage {
  const event: StoredEvent = {
    id: `00000000-0000-7000-8000-${String(position).padStart(12, '0')}`,
    type: 'order.noted',
    version: 1,
    stream,
    streamPosition: position,
    globalPosition: BigInt(position),
    checkpoint: `1:${position}`,
    data: {},
    metadata: {},
    occurredAt: new Date(0),
    recordedAt: new Date(0),
  };
  return { event, partition };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('embeddedBus', () => {
  it('delivers in publish order per partition, only to the partitions subscribed', async () => {
    const bus = embeddedBus();
    await bus.connect({ partitions: 4 });
    const seen: string[] = [];
    await bus.subscribe({
      consumer: 'c',
      partitions: [1],
      onMessage: async (d) => {
        seen.push(`${d.event.stream}:${d.event.streamPosition}`);
        await d.ack();
      },
    });
    await bus.publish([message('a', 1, 1), message('b', 1, 2), message('a', 2, 1)]);
    await tick();
    expect(seen).toEqual(['a:1', 'a:2']);
  });

  it('redelivers a nacked message after its delay with the attempt counted, and a throw counts as a nack', async () => {
    const bus = embeddedBus();
    await bus.connect({ partitions: 1 });
    const attempts: number[] = [];
    let first = 0;
    await bus.subscribe({
      consumer: 'c',
      partitions: [0],
      onMessage: async (d: Delivery) => {
        attempts.push(d.attempt);
        if (d.attempt === 1) {
          first = performance.now();
          await d.nack(100);
        } else if (d.attempt === 2) {
          expect(performance.now() - first).toBeGreaterThanOrEqual(90);
          throw new Error('handler failed');
        } else await d.ack();
      },
    });
    await bus.publish([message('a', 1)]);
    await tick(250);
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('hands what a closed subscription left unacknowledged to the next subscriber of the same name', async () => {
    const bus = embeddedBus();
    await bus.connect({ partitions: 1 });
    const held: Delivery[] = [];
    const first = await bus.subscribe({
      consumer: 'c',
      partitions: [0],
      onMessage: (d) => {
        held.push(d);
        return Promise.resolve();
      },
    });
    const taken: { position: number; attempt: number }[] = [];
    await bus.subscribe({
      consumer: 'c',
      partitions: [0],
      onMessage: async (d) => {
        taken.push({ position: d.event.streamPosition, attempt: d.attempt });
        await d.ack();
      },
    });
    await bus.publish([message('a', 1), message('a', 2)]);
    await tick();
    expect(held.length).toBe(2);
    expect(taken).toEqual([]);
    await first.close();
    await tick();
    expect(taken).toEqual([
      { position: 1, attempt: 2 },
      { position: 2, attempt: 2 },
    ]);
    await held[0]!.ack(); // a late ack from the closed subscription changes nothing
  });

  it('refuses unknown partitions and use after close with typed errors', async () => {
    const bus = embeddedBus();
    await bus.connect({ partitions: 2 });
    await expect(
      bus.subscribe({ consumer: 'c', partitions: [2], onMessage: async () => {} }),
    ).rejects.toMatchObject({
      code: 'EVENTLANE_INVALID_ARGUMENT',
    });
    await bus.close();
    const error = await bus.publish([message('a', 1)]).catch((e: unknown) => e);
    expect(isEventlaneError(error, 'EVENTLANE_BUS_CLOSED')).toBe(true);
  });
});
