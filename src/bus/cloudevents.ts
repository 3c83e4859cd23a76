import { InvalidEventError } from '../errors.js';
import type { EventMetadata, StoredEvent } from '../events/envelope.js';
import type { JsonValue } from '../events/json.js';

/**
 * The wire format of every bus: a CloudEvents 1.0 event in the JSON event format (structured mode,
 * `application/cloudevents+json`). Standard attributes carry what any CloudEvents tool understands; extensions
 * prefixed `el` carry the rest of the StoredEvent so that `decodeCloudEvent(encodeCloudEvent(e))` equals `e`.
 *
 * | StoredEvent      | CloudEvents attribute                                   |
 * | ---------------- | ------------------------------------------------------- |
 * | id               | id                                                      |
 * | type             | type                                                    |
 * | stream           | subject, partitionkey (Partitioning extension)          |
 * | streamPosition   | sequence (Sequence extension: decimal, zero-padded to 20 digits so it sorts as text) |
 * | version          | dataversion (string)                                    |
 * | occurredAt       | time                                                    |
 * | data             | data                                                    |
 * | metadata         | correlationid, causationid, traceparent (Distributed Tracing extension) when they are strings; any other key in elmetadata (JSON text) |
 * | globalPosition   | elglobalposition (decimal string: it is a bigint)       |
 * | checkpoint       | elcheckpoint                                            |
 * | recordedAt       | elrecordedat (RFC 3339)                                 |
 * | (partition)      | elpartition (integer), when the bus knows it            |
 */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: JsonValue;
  partitionkey: string;
  sequence: string;
  dataversion: string;
  correlationid?: string;
  causationid?: string;
  traceparent?: string;
  elmetadata?: string;
  elglobalposition: string;
  elcheckpoint: string;
  elrecordedat: string;
  elpartition?: number;
}

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';

/** Width of the zero-padded `sequence` attribute: enough for any PostgreSQL bigint. */
export const SEQUENCE_DIGITS = 20;

export interface EncodeOptions {
  /** CloudEvents `source`: a URI reference naming the producer. @defaultValue '/eventlane' */
  source?: string;
  /** The event's partition, recorded as `elpartition`. */
  partition?: number;
}

const MAPPED_METADATA: readonly (readonly [
  keyof EventMetadata & string,
  'correlationid' | 'causationid' | 'traceparent',
])[] = [
  ['correlationId', 'correlationid'],
  ['causationId', 'causationid'],
  ['traceparent', 'traceparent'],
];

export function toCloudEvent(event: StoredEvent, options: EncodeOptions = {}): CloudEvent {
  const ce: CloudEvent = {
    specversion: '1.0',
    id: event.id,
    source: options.source ?? '/eventlane',
    type: event.type,
    subject: event.stream,
    time: event.occurredAt.toISOString(),
    datacontenttype: 'application/json',
    data: event.data,
    partitionkey: event.stream,
    sequence: String(event.streamPosition).padStart(SEQUENCE_DIGITS, '0'),
    dataversion: String(event.version),
    elglobalposition: event.globalPosition.toString(),
    elcheckpoint: event.checkpoint,
    elrecordedat: event.recordedAt.toISOString(),
  };
  // Entries, not assignment: a metadata key named "__proto__" must stay an ordinary key.
  const rest: [string, JsonValue][] = [];
  for (const [key, value] of Object.entries(event.metadata)) {
    const mapped = MAPPED_METADATA.find(([k]) => k === key);
    if (mapped && typeof value === 'string') ce[mapped[1]] = value;
    else if (value !== undefined) rest.push([key, value]);
  }
  if (rest.length > 0) ce.elmetadata = JSON.stringify(Object.fromEntries(rest));
  if (options.partition !== undefined) ce.elpartition = options.partition;
  return ce;
}

/** The JSON text of an event on the wire. */
export function encodeCloudEvent(event: StoredEvent, options: EncodeOptions = {}): string {
  return JSON.stringify(toCloudEvent(event, options));
}

function bad(message: string, path: string): never {
  throw new InvalidEventError(
    `A message on the bus is not an eventlane CloudEvent: ${message}. ` +
      'Only the eventlane relay should publish to eventlane subjects, queues and streams.',
    path,
  );
}

function str(ce: Record<string, unknown>, key: string): string {
  const v = ce[key];
  if (typeof v !== 'string')
    bad(`attribute ${key} is ${v === undefined ? 'missing' : typeof v}, not a string`, key);
  return v;
}

function date(ce: Record<string, unknown>, key: string): Date {
  const d = new Date(str(ce, key));
  if (Number.isNaN(d.getTime())) bad(`attribute ${key} is not an RFC 3339 time`, key);
  return d;
}

/** Rebuilds the StoredEvent from a CloudEvent produced by `toCloudEvent` (text, bytes or parsed object). */
export function decodeCloudEvent(input: string | Uint8Array | Record<string, unknown>): StoredEvent {
  let ce: Record<string, unknown>;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    try {
      ce = JSON.parse(typeof input === 'string' ? input : Buffer.from(input).toString('utf8')) as Record<
        string,
        unknown
      >;
    } catch (error) {
      return bad(`not JSON (${(error as Error).message})`, '');
    }
  } else ce = input;
  if (typeof ce !== 'object' || ce === null || Array.isArray(ce)) bad('not a JSON object', '');
  if (ce.specversion !== '1.0')
    bad(`specversion is ${JSON.stringify(ce.specversion)}, expected "1.0"`, 'specversion');
  const sequence = str(ce, 'sequence');
  if (!/^\d+$/.test(sequence))
    bad(`sequence ${JSON.stringify(sequence)} is not a decimal number`, 'sequence');
  const dataversion = str(ce, 'dataversion');
  if (!/^\d+$/.test(dataversion))
    bad(`dataversion ${JSON.stringify(dataversion)} is not a whole number`, 'dataversion');
  const globalPosition = str(ce, 'elglobalposition');
  if (!/^\d+$/.test(globalPosition)) bad('elglobalposition is not a decimal number', 'elglobalposition');
  if (!('data' in ce)) bad('attribute data is missing', 'data');

  let metadata: EventMetadata = {};
  if (ce.elmetadata !== undefined) {
    try {
      metadata = JSON.parse(str(ce, 'elmetadata')) as EventMetadata;
    } catch {
      bad('elmetadata is not JSON text', 'elmetadata');
    }
  }
  for (const [key, attribute] of MAPPED_METADATA) {
    if (typeof ce[attribute] === 'string') metadata[key] = ce[attribute];
  }
  return {
    id: str(ce, 'id'),
    type: str(ce, 'type'),
    version: Number(dataversion),
    stream: str(ce, 'subject'),
    streamPosition: Number(sequence),
    globalPosition: BigInt(globalPosition),
    checkpoint: str(ce, 'elcheckpoint'),
    data: ce.data as JsonValue,
    metadata,
    occurredAt: date(ce, 'time'),
    recordedAt: date(ce, 'elrecordedat'),
  };
}
