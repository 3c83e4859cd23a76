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
  checkJson(value, root, new Set(), 0);
  return JSON.stringify(value);
}

/** The checks of `toJsonText` without the serialization: for values that are already parsed JSON. */
export function checkJsonValue(value: unknown, root: string): void {
  checkJson(value, root, new Set(), 0);
}

/**
 * The deepest nesting of arrays and objects an event's data or metadata may have. Real documents stay within a
 * few dozen levels; 512 leaves room for generated ones while keeping this recursive check, JSON.stringify and
 * PostgreSQL's jsonb parser far from their stack limits (20,000 levels overflowed Node's stack with a RangeError).
 */
export const MAX_JSON_DEPTH = 512;

// eslint-disable-next-line no-control-regex
const BAD_STRING = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function checkString(s: string, path: string): void {
  if (BAD_STRING.test(s)) {
    throw new InvalidEventError(
      `${path} holds a string with a NUL character or an unpaired UTF-16 surrogate, which PostgreSQL's jsonb ` +
        'cannot store. Remove the character or encode the bytes (e.g. base64).',
      path,
    );
  }
}

function checkJson(value: unknown, path: string, seen: Set<object>, depth: number): void {
  switch (typeof value) {
    case 'string':
      checkString(value, path);
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) {
        throw new InvalidEventError(
          `${path} is ${String(value)}, which JSON cannot represent. Use null or a finite number.`,
          path,
        );
      }
      return;
    case 'bigint':
      throw new InvalidEventError(
        `${path} is a BigInt (${String(value)}n), which JSON cannot represent. Store it as a string or a number.`,
        path,
      );
    case 'function':
    case 'symbol':
      throw new InvalidEventError(`${path} is a ${typeof value}; event data must be plain JSON.`, path);
    case 'undefined':
      throw new InvalidEventError(
        `${path} is undefined; event data must be plain JSON. Use null, or leave the property out.`,
        path,
      );
    case 'object':
      break;
  }
  if (value === null) return;
  const obj = value;
  if (seen.has(obj)) {
    throw new InvalidEventError(
      `${path} refers back to one of its parents (a cycle); JSON cannot hold it.`,
      path,
    );
  }
  if (depth >= MAX_JSON_DEPTH) {
    throw new InvalidEventError(
      `${path} is nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects. Flatten the data.`,
      path,
    );
  }
  seen.add(obj);
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) checkJson(obj[i], `${path}[${i}]`, seen, depth + 1);
  } else {
    const proto = Object.getPrototypeOf(obj) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const name = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
      throw new InvalidEventError(
        `${path} is a ${name}, not a plain object; event data must be plain JSON. ` +
          (name === 'Date'
            ? 'Store dates as ISO-8601 strings (date.toISOString()).'
            : 'Convert it to plain data first.'),
        path,
      );
    }
    for (const key of Object.keys(obj)) {
      const child = (obj as Record<string, unknown>)[key];
      const childPath = /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
      checkString(key, childPath);
      if (child === undefined) continue;
      checkJson(child, childPath, seen, depth + 1);
    }
  }
  seen.delete(obj);
}
