import { randomUUID } from 'node:crypto';
import { DiscardPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus, BusMessage } from '../../src/bus/types.js';
import { ErrorCodes } from '../../src/errors.js';
import type { StoredEvent } from '../../src/index.js';
import { SERVICES } from '../support/services.js';
import { cleanupBus, makeBus, uniqueBusId } from './support/buses.js';

// The NATS bus publishes through one inbox subscription per connection (src/bus/nats/publish.ts): what the
// server answers to each message (stored, duplicate, refused, no stream at all) must reach the relay as before.

function message(id: string, position: number): BusMessage {
  const event: StoredEvent = {
    id,
    type: 'item.added',
    version: 1,
    stream: 'pub-1',
    streamPosition: position,
    globalPosition: BigInt(position),
    checkpoint: `0/${position}`,
    data: { n: position },
    metadata: {},
    occurredAt: new Date(),
    recordedAt: new Date(),
  };
  return { event, partition: 0 };
}

async function withManager<T>(fn: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<T>) {
  const nc = await natsConnect({ servers: SERVICES.nats.url });
  try {
    return await fn(await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}

describe('nats bus publishing', () => {
  let bus: Bus | undefined;
  let id = '';
  afterEach(async () => {
    await bus?.close();
    if (id) await cleanupBus('nats', id);
  });

  async function open(): Promise<Bus> {
    id = uniqueBusId();
    bus = makeBus('nats', id);
    await bus.connect({ partitions: 16 });
    return bus;
  }

  it('stores each event once and takes a republished one as acknowledged', async () => {
    const b = await open();
    const first = Array.from({ length: 50 }, (_, i) => message(randomUUID(), i + 1));
    await b.publish(first);
    // A relay publishing again after a crash: the same ids, acknowledged as duplicates, not stored twice.
    await b.publish([...first.slice(40), message(randomUUID(), 51)]);
    const info = await withManager((jsm) => jsm.streams.info(id));
    expect(info.state.messages).toBe(51);
    const last = await withManager((jsm) => jsm.streams.getMessage(id, { seq: 51 }));
    expect(last?.header?.get('Nats-Msg-Id')).toBeTruthy();
    expect(last?.json<{ elstreamposition?: number; data: { n: number } }>().data.n).toBe(51);
  });

  it('fails the batch with BUS_PUBLISH when the stream refuses a message', async () => {
    const b = await open();
    await withManager(async (jsm) => {
      const { config } = await jsm.streams.info(id);
      await jsm.streams.update(id, { ...config, max_msgs: 2, discard: DiscardPolicy.New });
    });
    await b.publish([message(randomUUID(), 1), message(randomUUID(), 2)]);
    const refused = b.publish([message(randomUUID(), 3)]);
    await expect(refused).rejects.toMatchObject({ code: ErrorCodes.BUS_PUBLISH });
    await expect(refused).rejects.toThrow(/JetStream refused the message: .*maximum messages/i);
  });

  it('fails the batch with BUS_PUBLISH when no stream takes the subject', async () => {
    const b = await open();
    await withManager((jsm) => jsm.streams.delete(id));
    const started = Date.now();
    const lost = b.publish([message(randomUUID(), 1), message(randomUUID(), 2)]);
    await expect(lost).rejects.toMatchObject({ code: ErrorCodes.BUS_PUBLISH });
    await expect(lost).rejects.toThrow(/NATS did not acknowledge 2 of 2 .*no JetStream stream takes subject/);
    // Answered by the server at once (no responders), not by the publish timeout.
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
