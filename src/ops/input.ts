// Parsing of operator input (HTTP query strings, JSON bodies, CLI arguments) into checked values: every refusal is
// a typed error with a stable code, never a database error or a crash.

import { describeValue, InvalidArgumentError } from '../errors.js';

/** A page size: a whole number from 1 to `max`, as a number or its digits; `fallback` when absent. */
export function parseLimit(value: unknown, fallback: number, max: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new InvalidArgumentError(
      `limit must be a whole number from 1 to ${max}, got ${describeValue(value)}.`,
    );
  }
  return n;
}

/** A non-negative whole number (a stream position), as a number or its digits. */
export function parsePosition(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError(`${name} must be a whole number ≥ 0, got ${describeValue(value)}.`);
  }
  return n;
}

/** A point in time: ISO 8601 text. */
export function parseTime(value: unknown, name: string): Date | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const d = typeof value === 'string' && value.length <= 40 ? new Date(value) : undefined;
  if (d === undefined || Number.isNaN(d.getTime())) {
    throw new InvalidArgumentError(
      `${name} must be a time in ISO 8601 (e.g. 2026-01-31T12:00:00Z), got ${describeValue(value)}.`,
    );
  }
  return d;
}

/** Short text (a name, a reason), at most `max` characters. */
export function parseText(value: unknown, name: string, max = 1000): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > max) {
    throw new InvalidArgumentError(
      `${name} must be text of at most ${max} characters, got ${describeValue(value)}.`,
    );
  }
  return value;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An event id (a UUID). */
export function parseEventId(value: unknown): string {
  if (typeof value !== 'string' || !UUID.test(value)) {
    throw new InvalidArgumentError(`An event id is a UUID, got ${describeValue(value)}.`);
  }
  return value.toLowerCase();
}

/** Ids of parked events, for bulk actions: a list of digit strings, at most `max`. */
export function parseIds(value: unknown, max = 1000): string[] | undefined {
  if (value === undefined) return undefined;
  if (
    !Array.isArray(value) ||
    value.length > max ||
    value.some((v) => typeof v !== 'string' || !/^\d{1,19}$/.test(v))
  ) {
    throw new InvalidArgumentError(
      `ids must be a list of at most ${max} parked event ids (strings of digits), got ${describeValue(value)}.`,
    );
  }
  return value as string[];
}

/** A comma-separated list of statuses (checked by the list functions against their own set). */
export function parseStatuses<T extends string>(value: unknown): T[] | undefined {
  const text = parseText(value, 'status', 200);
  return text === undefined || text === '' ? undefined : (text.split(',') as T[]);
}
