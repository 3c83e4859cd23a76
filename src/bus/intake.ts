import { Counter, register as defaultRegistry, type Registry } from 'prom-client';
import type { StoredEvent } from '../events/envelope.js';
import { InvalidBusMessageError, type BusRejectReason } from '../errors.js';
import { decodeCloudEvent } from './cloudevents.js';
import { checkPositiveInt } from './options.js';

/**
 * What a bus tells about a message it received and refused (not JSON, not a CloudEvent, an attribute out of range,
 * too large). The message is set aside (`deadLetter`) and acknowledged; the consumer goes on with the next one.
 */
export interface BusRejection {
  /** `'nats'`, `'rabbitmq'`, `'redis'`. */
  bus: string;
  consumer: string;
  partition: number;
  reason: BusRejectReason;
  error: InvalidBusMessageError;
  /** Size of the raw message in bytes. */
  bytes: number;
  /**
   * The start of the raw message as text, for a log line: at most 256 characters, control characters escaped,
   * values of keys that look like secrets (password, token, secret, authorization, api key) and URL passwords
   * masked. Never the whole message: find that in the dead-letter place.
   */
  preview: string;
  /** Where the message was moved (a subject, queue or stream key); `undefined` when `deadLetter` is off. */
  deadLetter: string | undefined;
}

/** Called once per refused delivery; an error it throws is ignored (it must not stop the consumer). */
export type BusRejectHandler = (rejection: BusRejection) => void;

/** Options every broker bus takes for the messages it receives. */
export interface BusIntakeOptions {
  /**
   * Called for each message the bus refuses, with the typed error, the partition, the consumer and a capped,
   * redacted preview. `SubscribeOptions.onReject` is called as well when given. @defaultValue none
   */
  onReject?: BusRejectHandler;
  /**
   * Move a refused message to the broker's dead-letter place before acknowledging it (NATS: a subject under
   * `deadLetterSubject`; RabbitMQ: the `<exchange>.<consumer>.dead` queue; Redis: the `<keyPrefix>:dead:<consumer>`
   * stream). `false` acknowledges it without a copy: the message is then gone, known only from the callback and
   * the metric. @defaultValue true
   */
  deadLetter?: boolean;
  /**
   * A received message larger than this is refused (`too_large`) without being parsed. The default leaves room for
   * the store's default 1 MiB event with every character JSON-escaped; raise it with the store's `maxEventBytes`.
   * @defaultValue 8388608 (8 MiB)
   */
  maxIncomingBytes?: number;
  /**
   * prom-client registry for `eventlane_bus_rejected_total{bus,reason}`; `null` for none.
   * @defaultValue prom-client's default registry
   */
  registry?: Registry | null;
}

export const DEFAULT_MAX_INCOMING_BYTES = 8 * 1024 * 1024;
const PREVIEW_CHARS = 256;

const counters = new WeakMap<Registry, Counter<'bus' | 'reason'>>();

/** One counter per registry, shared by every bus of the process: prom-client refuses a second of the same name. */
function rejectedCounter(registry: Registry): Counter<'bus' | 'reason'> {
  let counter = counters.get(registry);
  if (!counter) {
    counter = new Counter({
      name: 'eventlane_bus_rejected_total',
      help: 'Messages a bus received and refused (set aside and acknowledged), by bus and reason.',
      labelNames: ['bus', 'reason'],
      registers: [registry],
    });
    counters.set(registry, counter);
  }
  return counter;
}

const SECRET_VALUE =
  /("(?:[^"]*(?:password|passwd|secret|token|authorization|api[-_]?key|credentials?)[^"]*)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi;
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s"]*:)[^@/\s"]*@/gi;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufffd]/g;

/** The start of a raw message as a safe, short text (see `BusRejection.preview`). */
export function previewOf(raw: string | Uint8Array): string {
  // Decode a little more than shown: escaping and masking change lengths.
  const head =
    typeof raw === 'string'
      ? raw.slice(0, PREVIEW_CHARS * 4)
      : Buffer.from(raw.buffer, raw.byteOffset, Math.min(raw.byteLength, PREVIEW_CHARS * 4)).toString('utf8');
  const text = head
    .replace(SECRET_VALUE, '$1"***"')
    .replace(URL_PASSWORD, '$1***@')
    .replace(CONTROL, (c) =>
      c === '\ufffd' ? '\\x??' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  const total = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.byteLength;
  return text.length > PREVIEW_CHARS || head.length < (typeof raw === 'string' ? raw.length : total)
    ? `${text.slice(0, PREVIEW_CHARS)}… (${total} bytes)`
    : text;
}

export type Intake = (
  raw: string | Uint8Array,
  where: {
    consumer: string;
    partition: number;
    onReject: BusRejectHandler | undefined;
    deadLetter: string | undefined;
  },
) => { event: StoredEvent } | { rejection: BusRejection };

/**
 * The decode step of a broker bus: size check, strict decode, then for a refused message the report (callbacks and
 * metric). Never throws: a bad message must not stop a consume loop. The caller moves the message and acknowledges.
 */
export function createIntake(bus: string, options: BusIntakeOptions): Intake {
  const maxBytes = checkPositiveInt(options.maxIncomingBytes, 'maxIncomingBytes', DEFAULT_MAX_INCOMING_BYTES);
  const counter =
    options.registry === null ? undefined : rejectedCounter(options.registry ?? defaultRegistry);
  return (raw, where) => {
    const bytes = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.byteLength;
    let error: InvalidBusMessageError;
    try {
      if (bytes > maxBytes) {
        throw new InvalidBusMessageError(
          'too_large',
          `A message on the bus is ${bytes} bytes, more than maxIncomingBytes (${maxBytes}); it was set aside ` +
            'unread. Raise maxIncomingBytes if the store accepts events this large.',
        );
      }
      return { event: decodeCloudEvent(raw) };
    } catch (caught) {
      error =
        caught instanceof InvalidBusMessageError
          ? caught
          : new InvalidBusMessageError(
              'not_cloudevent',
              `A message on the bus could not be decoded (${(caught as Error)?.message ?? String(caught)}); it was set aside.`,
              '',
              { cause: caught },
            );
    }
    const rejection: BusRejection = {
      bus,
      consumer: where.consumer,
      partition: where.partition,
      reason: error.reason,
      error,
      bytes,
      preview: previewOf(raw),
      deadLetter: where.deadLetter,
    };
    counter?.inc({ bus, reason: error.reason });
    for (const handler of [options.onReject, where.onReject]) {
      try {
        handler?.(rejection);
      } catch {
        // A reporting callback that fails must not stop the consumer; the metric still counts the message.
      }
    }
    return { rejection };
  };
}

/** Text safe for a header or a stream field: no control characters, capped. */
export function headerText(text: string, max = 512): string {
  const clean = text.replace(CONTROL, ' ');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
