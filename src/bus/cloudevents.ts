import { InvalidBusMessageError, type BusRejectReason } from '../errors.js';
import type { EventMetadata, StoredEvent } from '../events/envelope.js';
import { isUuid } from '../events/ids.js';
import { checkJsonValue, type JsonValue } from '../events/json.js';
import { checkEventType, checkStreamName } from '../events/names.js';
import { traceparentProblem, tracestateProblem } from '../tracing/trace-context.js';

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
 * | metadata         | correlationid, causationid when they are strings; traceparent, tracestate (Distributed Tracing extension) when they are valid W3C Trace Context; any other key in elmetadata (JSON text) |
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
  tracestate?: string;
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

type MappedAttribute = 'correlationid' | 'causationid' | 'traceparent' | 'tracestate';

/**
 * Metadata keys sent as attributes of their own, and the check a value must pass to be one (else it travels in
 * elmetadata like any other key, so an event stored before the check still reaches its consumers as it is).
 */
const MAPPED_METADATA: readonly (readonly [
  keyof EventMetadata & string,
  MappedAttribute,
  ((value: string) => string | undefined) | undefined,
])[] = [
  ['correlationId', 'correlationid', undefined],
  ['causationId', 'causationid', undefined],
  ['traceparent', 'traceparent', traceparentProblem],
  ['tracestate', 'tracestate', tracestateProblem],
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
    if (mapped && typeof value === 'string' && mapped[2]?.(value) === undefined) ce[mapped[1]] = value;
    else if (value !== undefined) rest.push([key, value]);
  }
  if (ce.tracestate !== undefined && ce.traceparent === undefined) {
    // A tracestate travels as an attribute only beside its traceparent; the bus intake refuses it alone.
    rest.push(['tracestate', ce.tracestate]);
    delete ce.tracestate;
  }
  if (rest.length > 0) ce.elmetadata = JSON.stringify(Object.fromEntries(rest));
  if (options.partition !== undefined) ce.elpartition = options.partition;
  return ce;
}

/** The JSON text of an event on the wire. */
export function encodeCloudEvent(event: StoredEvent, options: EncodeOptions = {}): string {
  return JSON.stringify(toCloudEvent(event, options));
}

const MAX_VERSION = 2_147_483_647;
const MAX_BIGINT = 2n ** 63n - 1n;
// Same shape as the store's checkpoints (src/store/names.ts); the bus sits beside the store, not above it.
const CHECKPOINT = /^\d{1,20}:\d{1,19}$/;

function bad(message: string, attribute: string, reason: BusRejectReason = 'invalid_attribute'): never {
  throw new InvalidBusMessageError(
    reason,
    `A message on the bus is not an eventlane CloudEvent: ${message}. ` +
      'Only the eventlane relay should publish to eventlane subjects, queues and streams; the message was set aside.',
    attribute,
  );
}

function shown(v: unknown): string {
  if (typeof v !== 'string') return v === null ? 'null' : typeof v;
  return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
}

function str(ce: Record<string, unknown>, key: string): string {
  const v = Object.hasOwn(ce, key) ? ce[key] : undefined;
  if (typeof v !== 'string')
    bad(`attribute ${key} is ${v === undefined ? 'missing' : shown(v)}, not a string`, key);
  return v;
}

function date(ce: Record<string, unknown>, key: string): Date {
  const text = str(ce, key);
  const d = new Date(text);
  // A time the store wrote is an ISO-8601 instant; Date would also take "1" or "Tuesday".
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(d.getTime()))
    bad(`attribute ${key} ${shown(text)} is not an RFC 3339 time`, key);
  return d;
}

/** A decimal attribute that must be a whole number from 1 to `max`, as the store would have written it. */
function whole(ce: Record<string, unknown>, key: string, max: number): number {
  const text = str(ce, key);
  const n = /^\d{1,20}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max)
    bad(`attribute ${key} ${shown(text)} is not a whole number from 1 to ${max}`, key);
  return n;
}

/** Runs one of the append checks and turns its error into a bus rejection of `attribute`. */
function as<T>(attribute: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    // RangeError included: data nested too deep to walk is no more acceptable here than at append.
    return bad(`attribute ${attribute}: ${(error as Error).message}`, attribute);
  }
}

/**
 * Rebuilds the StoredEvent from a CloudEvent produced by `toCloudEvent` (text, bytes or parsed object), checking
 * it as strictly as `append` checks a new event: a UUID id, a valid stream name (`subject`) and event type,
 * positions and version in range, metadata a JSON object, data and metadata plain JSON the store could hold,
 * valid times and checkpoint. Throws `InvalidBusMessageError` (code `EVENTLANE_INVALID_BUS_MESSAGE`) with the
 * `reason` and the attribute at fault.
 */
export function decodeCloudEvent(input: string | Uint8Array | Record<string, unknown>): StoredEvent {
  let ce: unknown;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    try {
      ce = JSON.parse(typeof input === 'string' ? input : Buffer.from(input).toString('utf8'));
    } catch (error) {
      return bad(`not JSON (${(error as Error).message})`, '', 'not_json');
    }
  } else ce = input;
  if (typeof ce !== 'object' || ce === null || Array.isArray(ce))
    bad(`the JSON is ${Array.isArray(ce) ? 'an array' : shown(ce)}, not an object`, '', 'not_cloudevent');
  const o = ce as Record<string, unknown>;
  if (o.specversion !== '1.0')
    bad(
      `specversion is ${JSON.stringify(o.specversion) ?? 'missing'}, expected "1.0"`,
      'specversion',
      'not_cloudevent',
    );

  const id = str(o, 'id');
  if (!isUuid(id)) bad(`attribute id ${shown(id)} is not a UUID`, 'id');
  const type = str(o, 'type');
  as('type', () => checkEventType(type, 'type'));
  const stream = str(o, 'subject');
  as('subject', () => checkStreamName(stream));
  const streamPosition = whole(o, 'sequence', Number.MAX_SAFE_INTEGER);
  const version = whole(o, 'dataversion', MAX_VERSION);
  const gp = str(o, 'elglobalposition');
  const globalPosition = /^\d{1,19}$/.test(gp) ? BigInt(gp) : 0n;
  if (globalPosition < 1n || globalPosition > MAX_BIGINT)
    bad(`attribute elglobalposition ${shown(gp)} is not a whole number from 1 to 2^63-1`, 'elglobalposition');
  const checkpoint = str(o, 'elcheckpoint');
  if (!CHECKPOINT.test(checkpoint))
    bad(`attribute elcheckpoint ${shown(checkpoint)} is not a checkpoint`, 'elcheckpoint');
  if (o.elpartition !== undefined && !(Number.isSafeInteger(o.elpartition) && (o.elpartition as number) >= 0))
    bad(`attribute elpartition ${shown(o.elpartition)} is not a partition number`, 'elpartition');
  if (!Object.hasOwn(o, 'data')) bad('attribute data is missing', 'data');
  as('data', () => checkJsonValue(o.data, 'data'));

  let metadata: EventMetadata = {};
  if (o.elmetadata !== undefined) {
    const text = str(o, 'elmetadata');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      bad('attribute elmetadata is not JSON text', 'elmetadata');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      bad(
        `attribute elmetadata is ${Array.isArray(parsed) ? 'an array' : shown(parsed)}, not a JSON object`,
        'elmetadata',
      );
    as('elmetadata', () => checkJsonValue(parsed, 'elmetadata'));
    metadata = parsed as EventMetadata;
  }
  for (const [key, attribute, check] of MAPPED_METADATA) {
    const v = Object.hasOwn(o, attribute) ? o[attribute] : undefined;
    if (v === undefined) continue;
    if (typeof v !== 'string') bad(`attribute ${attribute} is ${shown(v)}, not a string`, attribute);
    as(attribute, () => checkJsonValue(v, attribute));
    const problem = check?.(v);
    if (problem !== undefined)
      bad(`attribute ${attribute} ${shown(v)} is not W3C Trace Context (${problem})`, attribute);
    metadata[key] = v;
  }
  if (metadata.tracestate !== undefined && Object.hasOwn(o, 'tracestate') && !Object.hasOwn(o, 'traceparent'))
    bad('attribute tracestate comes without a traceparent', 'tracestate');
  return {
    id,
    type,
    version,
    stream,
    streamPosition,
    globalPosition,
    checkpoint,
    data: o.data as JsonValue,
    metadata,
    occurredAt: date(o, 'time'),
    recordedAt: date(o, 'elrecordedat'),
  };
}
