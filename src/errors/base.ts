/**
 * The base of eventlane's errors, the errors any area throws, and the guards.
 *
 * Every error carries a stable `code`. Check errors with the guards (`isEventlaneError(e, 'EVENTLANE_…')`)
 * rather than with `instanceof` alone: two copies of the package in one process still agree on codes.
 */

import { ErrorCodes, type ErrorCode } from './codes.js';

export interface EventlaneErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class EventlaneError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: EventlaneErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
  }
}

export class InvalidArgumentError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCodes.INVALID_ARGUMENT, message, { details });
  }
}

export class TimeoutError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCodes.TIMEOUT, message, { details });
  }
}

/**
 * A short, safe rendering of a value someone passed, for error messages: never throws (BigInt, cycles, getters
 * that throw), never runs to megabytes. Strings are quoted, BigInts get their `n`, objects are named, not dumped.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
    case 'bigint':
      return `${value}n`;
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      if (value === null) return 'null';
      if (Array.isArray(value)) return `an array of ${value.length}`;
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid Date' : 'a Date';
      return 'an object';
  }
}

/** True when `error` is an eventlane error, optionally of the given code. Works across package copies. */
export function isEventlaneError(error: unknown, code?: ErrorCode): error is EventlaneError {
  if (typeof error !== 'object' || error === null) return false;
  const c = (error as { code?: unknown }).code;
  if (typeof c !== 'string' || !c.startsWith('EVENTLANE_')) return false;
  return code === undefined || c === code;
}

/**
 * Wraps a caller's error callback (`onError`, `onReject`) so that a callback which throws cannot take down the loop
 * that reports to it: background loops call it from timers and promise handlers, where a throw would become an
 * unhandled rejection that ends the process. What the callback throws is dropped; the report was already delivered.
 */
export function safeCallback<A extends unknown[]>(
  fn: ((...args: A) => unknown) | undefined,
): (...args: A) => void {
  if (fn === undefined) return () => undefined;
  return (...args: A) => {
    try {
      const result: unknown = fn(...args);
      // An async callback that rejects must not become an unhandled rejection either.
      if (result instanceof Promise) result.catch(() => undefined);
    } catch {
      // Deliberately ignored (see above).
    }
  };
}
