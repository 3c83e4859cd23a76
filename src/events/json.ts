import { InvalidEventError } from '../errors.js';

/** A JSON value as eventlane stores it: what `JSON.parse` can return. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * Serializes `value` to JSON text after checking that it is plain JSON, so that what is stored reads back
 * equal. Refused, with the path of the offending value: bigint, function, symbol, undefined inside arrays,
 * NaN and ±Infinity, cycles, objects that are not plain (Date, Map, class instances, Buffer, …), and strings
 * PostgreSQL's jsonb cannot hold (NUL characters, unpaired surrogates). Object properties whose value is
 * `undefined` are left out, as `JSON.stringify` does.
 */
export function toJsonText(value: unknown, root: string): string {
  checkJson(value, { root, keys: [], parents: [] });
  return JSON.stringify(value);
}

/** The checks of `toJsonText` without the serialization: for values that are already parsed JSON. */
export function checkJsonValue(value: unknown, root: string): void {
  checkJson(value, { root, keys: [], parents: [] });
}

/**
 * The deepest nesting of arrays and objects an event's data or metadata may have. Real documents stay within a
 * few dozen levels; 512 leaves room for generated ones while keeping this recursive check, JSON.stringify and
 * PostgreSQL's jsonb parser far from their stack limits (20,000 levels overflowed Node's stack with a RangeError).
 */
export const MAX_JSON_DEPTH = 512;

// eslint-disable-next-line no-control-regex
const BAD_STRING = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const PLAIN_KEY = /^[A-Za-z_$][\w$]*$/;

/**
 * Where the check stands: the keys from the root down to the value, and the objects and arrays above it (a cycle
 * is a value among them). The path is written out only for an error: building it for every property cost more
 * than the check itself.
 */
interface Walk {
  root: string;
  keys: (string | number)[];
  parents: object[];
}

function pathOf(w: Walk): string {
  let path = w.root;
  for (const key of w.keys) {
    if (typeof key === 'number') path += `[${key}]`;
    else path += PLAIN_KEY.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  }
  return path;
}

function checkString(s: string, w: Walk): void {
  if (BAD_STRING.test(s)) {
    const path = pathOf(w);
    throw new InvalidEventError(
      `${path} holds a string with a NUL character or an unpaired UTF-16 surrogate, which PostgreSQL's jsonb ` +
        'cannot store. Remove the character or encode the bytes (e.g. base64).',
      path,
    );
  }
}

function invalid(w: Walk, message: (path: string) => string): InvalidEventError {
  const path = pathOf(w);
  return new InvalidEventError(message(path), path);
}

function checkJson(value: unknown, w: Walk): void {
  switch (typeof value) {
    case 'string':
      checkString(value, w);
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) {
        throw invalid(
          w,
          (path) => `${path} is ${String(value)}, which JSON cannot represent. Use null or a finite number.`,
        );
      }
      return;
    case 'bigint':
      throw invalid(
        w,
        (path) =>
          `${path} is a BigInt (${String(value)}n), which JSON cannot represent. Store it as a string or a number.`,
      );
    case 'function':
    case 'symbol':
      throw invalid(w, (path) => `${path} is a ${typeof value}; event data must be plain JSON.`);
    case 'undefined':
      throw invalid(
        w,
        (path) => `${path} is undefined; event data must be plain JSON. Use null, or leave the property out.`,
      );
    case 'object':
      break;
  }
  if (value === null) return;
  const obj = value;
  if (w.parents.includes(obj)) {
    throw invalid(w, (path) => `${path} refers back to one of its parents (a cycle); JSON cannot hold it.`);
  }
  if (w.parents.length >= MAX_JSON_DEPTH) {
    throw invalid(
      w,
      (path) =>
        `${path} is nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects. Flatten the data.`,
    );
  }
  w.parents.push(obj);
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) {
      w.keys.push(i);
      checkJson(obj[i], w);
      w.keys.pop();
    }
  } else {
    const proto = Object.getPrototypeOf(obj) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const name = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
      throw invalid(
        w,
        (path) =>
          `${path} is a ${name}, not a plain object; event data must be plain JSON. ` +
          (name === 'Date'
            ? 'Store dates as ISO-8601 strings (date.toISOString()).'
            : 'Convert it to plain data first.'),
      );
    }
    for (const key of Object.keys(obj)) {
      const child = (obj as Record<string, unknown>)[key];
      w.keys.push(key);
      checkString(key, w);
      if (child !== undefined) checkJson(child, w);
      w.keys.pop();
    }
  }
  w.parents.pop();
}
