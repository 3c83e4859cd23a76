import { InvalidEventError, InvalidStreamNameError } from '../errors.js';

/** The longest stream name accepted, in characters. */
export const MAX_STREAM_NAME_LENGTH = 256;
/** The longest event type accepted, in characters. */
export const MAX_EVENT_TYPE_LENGTH = 128;

const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9_]*(?:[.\-:/][A-Za-z0-9_]+)*$/;
// Control characters (C0, DEL, C1), line/paragraph separators and unpaired surrogates.
const CONTROL =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function preview(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

export function checkStreamName(stream: unknown): asserts stream is string {
  if (typeof stream !== 'string') {
    throw new InvalidStreamNameError(`A stream name must be a string, got ${typeof stream}.`, stream);
  }
  if (stream.length === 0 || stream.trim().length === 0) {
    throw new InvalidStreamNameError(
      'A stream name must not be empty or blank. Name the entity, e.g. "order-42".',
      stream,
    );
  }
  if (stream.length > MAX_STREAM_NAME_LENGTH) {
    throw new InvalidStreamNameError(
      `Stream name ${preview(stream)} is ${stream.length} characters long; the limit is ${MAX_STREAM_NAME_LENGTH}. ` +
        'Use a short entity id, e.g. "order-42".',
      stream,
    );
  }
  if (CONTROL.test(stream)) {
    throw new InvalidStreamNameError(
      `Stream name ${preview(stream)} contains a control character or an unpaired surrogate; ` +
        'use printable characters only.',
      stream,
    );
  }
}

/** True when `stream` passes `checkStreamName` (without throwing). */
export function isStreamName(stream: unknown): stream is string {
  try {
    checkStreamName(stream);
    return true;
  } catch {
    return false;
  }
}

/** True when `type` passes the event type rule of `checkEventType` (without throwing). */
export function isEventType(type: unknown): type is string {
  return typeof type === 'string' && type.length <= MAX_EVENT_TYPE_LENGTH && EVENT_TYPE.test(type);
}

export function checkEventType(type: unknown, path: string): asserts type is string {
  if (typeof type !== 'string' || type.length === 0) {
    throw new InvalidEventError(`${path} must be a non-empty string such as "order.paid".`, path);
  }
  if (type.length > MAX_EVENT_TYPE_LENGTH || !EVENT_TYPE.test(type)) {
    throw new InvalidEventError(
      `${path} ${preview(type)} is not a valid event type: use letters, digits and underscores in segments ` +
        `separated by ".", "-", ":" or "/", starting with a letter, at most ${MAX_EVENT_TYPE_LENGTH} characters ` +
        '(e.g. "order.paid").',
      path,
    );
  }
}
