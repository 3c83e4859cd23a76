/** Errors of trace context propagation: a malformed W3C traceparent or tracestate handed to append. */

import { ErrorCodes } from './codes.js';
import { EventlaneError, describeValue } from './base.js';

/**
 * An event's `metadata.traceparent` or `metadata.tracestate` is not W3C Trace Context. Thrown by append before
 * anything reaches the database, so the store is left as it was.
 */
export class InvalidTraceContextError extends EventlaneError {
  /** Where the value is, e.g. `events[0].metadata.traceparent`. */
  readonly path: string;

  constructor(path: string, value: unknown, problem: string) {
    super(
      ErrorCodes.INVALID_TRACE_CONTEXT,
      `${path} ${describeValue(value)} is not W3C Trace Context: ${problem}. ` +
        (path.endsWith('tracestate')
          ? 'A tracestate goes with a traceparent and is a comma-separated list of at most 32 key=value members ' +
            '(lowercase keys; values of printable ASCII without "," or "="), at most 512 characters (e.g. ' +
            'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE). '
          : 'A traceparent is "00-<trace id: 32 lowercase hex>-<parent id: 16 lowercase hex>-<flags: 2 hex>" ' +
            'with ids not all zeros (e.g. 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01). ') +
        'Pass the headers exactly as received, or leave them out to take the active OpenTelemetry context.',
      { details: { path, value: typeof value === 'string' ? value.slice(0, 600) : describeValue(value) } },
    );
    this.path = path;
  }
}
