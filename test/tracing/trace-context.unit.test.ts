import { describe, expect, it } from 'vitest';
import { ErrorCodes, InvalidTraceContextError } from '../../src/errors.js';
import {
  checkMetadataTraceContext,
  formatTraceparent,
  parseTraceparent,
  traceparentProblem,
  tracestateProblem,
} from '../../src/tracing/trace-context.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const VALID = `00-${TRACE_ID}-${SPAN_ID}-01`;

describe('traceparent', () => {
  it('parses a valid one into its fields, and formats them back', () => {
    expect(parseTraceparent(VALID)).toEqual({ version: '00', traceId: TRACE_ID, spanId: SPAN_ID, flags: 1 });
    expect(parseTraceparent(`00-${TRACE_ID}-${SPAN_ID}-00`)?.flags).toBe(0);
    expect(formatTraceparent(TRACE_ID, SPAN_ID, 1)).toBe(VALID);
    expect(formatTraceparent(TRACE_ID, SPAN_ID, 0)).toBe(`00-${TRACE_ID}-${SPAN_ID}-00`);
    // A later version may carry more fields after a dash; version 00 may not.
    expect(traceparentProblem(`01-${TRACE_ID}-${SPAN_ID}-01-extra`)).toBeUndefined();
  });

  it.each([
    ['00-abc-def-01', 'form version-traceid-parentid-flags'],
    [`00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`, 'uppercase'],
    [`00-${'0'.repeat(32)}-${SPAN_ID}-01`, 'trace id is all zeros'],
    [`00-${TRACE_ID}-${'0'.repeat(16)}-01`, 'parent id is all zeros'],
    [`ff-${TRACE_ID}-${SPAN_ID}-01`, 'version ff'],
    [`00-${TRACE_ID}-${SPAN_ID}-01-extra`, 'exactly four fields'],
    [`${VALID}\n`, 'form'],
    [` ${VALID}`, 'form'],
    [`00-${TRACE_ID}-${SPAN_ID}-1`, 'form'],
    ['', 'form'],
    [`01-${TRACE_ID}-${SPAN_ID}-01-${'x'.repeat(600)}`, 'more than 512'],
  ])('refuses %j (%s)', (text, problem) => {
    expect(traceparentProblem(text)).toContain(problem);
    expect(parseTraceparent(text)).toBeUndefined();
  });

  it('refuses what is not a string', () => {
    for (const value of [42, null, {}, ['00'], true])
      expect(traceparentProblem(value)).toBe('it is not a string');
  });
});

describe('tracestate', () => {
  it('takes list members with optional spaces, empty members and multi-tenant keys', () => {
    for (const text of ['rojo=00f067aa0ba902b7,congo=t61rcWkgMzE', ' a=1 , ,b@x=2\t', 'k=v v', 'a=1,', ''])
      expect(tracestateProblem(text, true), text).toBeUndefined();
  });

  it.each([
    ['A=1', 'not a tracestate key'],
    ['a=', 'not a tracestate value'],
    ['x', 'has no "="'],
    ['a=b=c', 'not a tracestate value'],
    ['a=1\n', 'not a tracestate value'],
    ['a=1,a=2', 'appears twice'],
    [Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(','), 'more than 32'],
    [`a=${'v'.repeat(600)}`, 'more than 512'],
  ])('refuses %j at append (%s)', (text, problem) => {
    expect(tracestateProblem(text, true)).toContain(problem);
  });

  it('on the bus checks the format, not duplicates', () => {
    expect(tracestateProblem('a=1,a=2')).toBeUndefined();
    expect(tracestateProblem('a=1,,b')).toContain('has no "="');
  });
});

describe('the trace context of new event metadata', () => {
  it('is absent, or a valid traceparent with an optional valid tracestate', () => {
    expect(checkMetadataTraceContext({ actor: 'ann' }, 'events[0].metadata')).toBe(false);
    expect(checkMetadataTraceContext({ traceparent: VALID }, 'events[0].metadata')).toBe(true);
    expect(checkMetadataTraceContext({ traceparent: VALID, tracestate: 'a=1' }, 'm')).toBe(true);
  });

  it('refuses a malformed one with a typed error that names the place and the value', () => {
    const refused = (metadata: Record<string, unknown>): InvalidTraceContextError => {
      try {
        checkMetadataTraceContext(metadata, 'events[2].metadata');
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidTraceContextError);
        return error as InvalidTraceContextError;
      }
      throw new Error('not refused');
    };
    const bad = refused({ traceparent: '00-abc-def-01' });
    expect(bad.code).toBe(ErrorCodes.INVALID_TRACE_CONTEXT);
    expect(bad.path).toBe('events[2].metadata.traceparent');
    expect(bad.message).toContain('"00-abc-def-01"');
    expect(bad.message).toContain('version-traceid-parentid-flags');
    expect(bad.details).toMatchObject({ path: 'events[2].metadata.traceparent', value: '00-abc-def-01' });
    expect(refused({ traceparent: 7 }).message).toContain('not a string');
    expect(refused({ traceparent: VALID, tracestate: 'a=1,a=2' }).path).toBe('events[2].metadata.tracestate');
    expect(refused({ tracestate: 'a=1' }).message).toContain('needs the traceparent');
  });
});
