import { MessageTooLargeError } from '../errors.js';
import { MAX_EVENT_TYPE_LENGTH, MAX_STREAM_NAME_LENGTH } from '../events/names.js';
import { encodeCloudEvent } from './cloudevents.js';
import type { Bus, BusMessage } from './types.js';

/** NATS' default `max_payload`, used until the server tells its own. */
export const NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * The byte size of a message as an adapter sends it: the relay's pre-encoded payload, else the encoded event.
 * Returns early (without measuring) when the text cannot exceed `limit` even at 3 bytes per UTF-16 unit.
 */
export function messageBytes(message: BusMessage, limit = 0): number {
  const text = message.payload ?? encodeCloudEvent(message.event, { partition: message.partition });
  if (text.length * 3 <= limit) return text.length;
  return Buffer.byteLength(text);
}

/**
 * Throws `MessageTooLargeError` for the first message of the batch larger than `limit`, before the adapter sends
 * anything: a broker that refuses (or, like NATS, disconnects on) an oversized message would otherwise fail the
 * whole batch again on every retry.
 */
export function refuseOversized(bus: string, messages: readonly BusMessage[], limit: number): void {
  if (!Number.isFinite(limit)) return;
  for (const m of messages) {
    const size = messageBytes(m, limit);
    if (size > limit) throw new MessageTooLargeError(bus, m.event, size, limit);
  }
}

/**
 * The most the CloudEvents attributes around `data` and `metadata` can take: every attribute at its longest (a
 * stream name of MAX_STREAM_NAME_LENGTH characters at up to 3 bytes each, twice — as `subject` and `partitionkey`)
 * plus `source`.
 */
export function cloudEventEnvelopeBytes(source = '/eventlane'): number {
  const template = encodeCloudEvent(
    {
      id: '00000000-0000-0000-0000-000000000000',
      type: '',
      version: 2_147_483_647,
      stream: '',
      streamPosition: Number.MAX_SAFE_INTEGER,
      globalPosition: 9_223_372_036_854_775_807n,
      checkpoint: '18446744073709551615:9223372036854775807',
      data: null,
      metadata: {},
      occurredAt: new Date(0),
      recordedAt: new Date(0),
    },
    { source, partition: 2_147_483_647 },
  );
  // `elmetadata` is metadata as a JSON string inside the JSON: its key and quotes are not counted in the store's size.
  const metadataAttribute = '"elmetadata":"",'.length;
  return (
    Buffer.byteLength(template) + 2 * 3 * MAX_STREAM_NAME_LENGTH + MAX_EVENT_TYPE_LENGTH + metadataAttribute
  );
}

/**
 * A `maxEventBytes` for `createEventStore` that matches what `bus` accepts: its `maxMessageBytes` minus the
 * largest CloudEvents envelope. Use it so that an event too large for the bus is refused at append (a typed
 * `EventTooLargeError`, nothing written) rather than parked by the relay later.
 *
 * Not exact: the store measures compact JSON, while the relay publishes PostgreSQL's `jsonb` text (a space after
 * each `:` and `,`, numbers written out without exponent) and metadata escaped inside `elmetadata`. Keep
 * `headroom` for that (a share of the limit, 0.05 = 5 %); an event that still exceeds the bus is parked by the relay.
 *
 * @example
 * const bus = natsBus({ servers });
 * await bus.connect({ partitions: 16 }); // NATS tells its max_payload on connect
 * const store = await createEventStore({ url, maxEventBytes: maxEventBytesFor(bus) });
 */
export function maxEventBytesFor(
  bus: Pick<Bus, 'maxMessageBytes'>,
  options: { source?: string; headroom?: number } = {},
): number {
  const limit = bus.maxMessageBytes ?? Infinity;
  const headroom = options.headroom ?? 0.05;
  const usable = Number.isFinite(limit) ? Math.floor(limit * (1 - headroom)) : Number.MAX_SAFE_INTEGER;
  return Math.max(1, usable - cloudEventEnvelopeBytes(options.source));
}
