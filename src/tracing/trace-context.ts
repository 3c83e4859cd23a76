import { InvalidTraceContextError } from '../errors.js';

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate` an event carries in
 * its metadata, checked at append and at the bus intake. No OpenTelemetry import here: the checks run whether or
 * not the API is installed.
 */

/** A parsed `traceparent`. */
export interface TraceParent {
  /** Two lowercase hex digits; `00` today, never `ff`. */
  version: string;
  /** 32 lowercase hex digits, not all zeros. */
  traceId: string;
  /** The parent span's id: 16 lowercase hex digits, not all zeros. */
  spanId: string;
  /** The trace flags as a number (bit 0: sampled). */
  flags: number;
}

/** The trace context of one event, as stored in its metadata and sent as CloudEvents attributes. */
export interface EventTraceContext {
  traceparent: string;
  tracestate?: string;
}

/** Longest traceparent taken: version 00 is 55 characters, a later version may append fields. */
export const MAX_TRACEPARENT_LENGTH = 512;
/** Longest tracestate taken (the W3C minimum every vendor must propagate), and its most list members. */
export const MAX_TRACESTATE_LENGTH = 512;
const MAX_TRACESTATE_MEMBERS = 32;

// The patterns are written so that PostgreSQL's regular expressions read them exactly as JavaScript does (the relay
// builds CloudEvents in SQL with them, src/relay/read-wire.ts): no backslashes in the strings (`\t` in a template is a tab),
// a literal "-" last in a bracket, bounds of at most 255.
const IDS = '(?!0{32}-)[0-9a-f]{32}-(?!0{16}-)[0-9a-f]{16}-[0-9a-f]{2}';
/** A traceparent: version 00 with exactly four fields, or a later version (never ff) with optional more. */
export const TRACEPARENT_PATTERN = `^(?:00-${IDS}|(?:0[1-9a-f]|[1-9a-e][0-9a-f]|f[0-9a-e])-${IDS}(?:-[ -~]*)?)$`;
const KEY = '(?:[a-z0-9][_0-9a-z*/-]{0,255}|[a-z0-9][_0-9a-z*/-]{0,240}@[a-z][_0-9a-z*/-]{0,13})';
// Printable ASCII but "," and "="; the last character not a space.
const VALUE = '[ -+.-<>-~-]{0,255}[!-+.-<>-~-]';
const MEMBER = `${KEY}=${VALUE}`;
/** A tracestate: comma-separated key=value list members, optional spaces and tabs around each, empty ones allowed. */
export const TRACESTATE_PATTERN = `^[ \t]*(?:${MEMBER})?[ \t]*(?:,[ \t]*(?:${MEMBER})?[ \t]*)*$`;

const TRACEPARENT = new RegExp(TRACEPARENT_PATTERN);
const TRACESTATE = new RegExp(TRACESTATE_PATTERN);
const TRACESTATE_KEY = new RegExp(`^${KEY}$`);
const TRACESTATE_VALUE = new RegExp(`^${VALUE}$`);

/** Why `text` is not a traceparent, or `undefined` when it is one. */
export function traceparentProblem(text: unknown): string | undefined {
  if (typeof text !== 'string') return 'it is not a string';
  if (text.length > MAX_TRACEPARENT_LENGTH)
    return `it is ${text.length} characters long, more than ${MAX_TRACEPARENT_LENGTH}`;
  if (TRACEPARENT.test(text)) return undefined;
  if (/[A-F]/.test(text)) return 'it has uppercase hex digits; W3C requires lowercase';
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-.*)?$/s.exec(text);
  if (m === null) return 'it does not have the form version-traceid-parentid-flags';
  if (m[1] === 'ff') return 'version ff is forbidden';
  if (/^0+$/.test(m[2]!)) return 'the trace id is all zeros';
  if (/^0+$/.test(m[3]!)) return 'the parent id is all zeros';
  return m[1] === '00'
    ? 'version 00 has exactly four fields'
    : 'its extra fields hold characters that are not printable ASCII';
}

/**
 * Why `text` is not a tracestate, or `undefined` when it is one. `strict` (at append) also refuses a key that
 * appears twice and more than 32 list members; the bus intake checks the format only, as the relay does in SQL.
 */
export function tracestateProblem(text: unknown, strict = false): string | undefined {
  if (typeof text !== 'string') return 'it is not a string';
  if (text.length > MAX_TRACESTATE_LENGTH)
    return `it is ${text.length} characters long, more than ${MAX_TRACESTATE_LENGTH}`;
  if (TRACESTATE.test(text) && !strict) return undefined;
  const keys = new Set<string>();
  for (const raw of text.split(',')) {
    const member = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq < 0) return `the list member ${JSON.stringify(member.slice(0, 40))} has no "="`;
    const key = member.slice(0, eq);
    if (!TRACESTATE_KEY.test(key))
      return `the key ${JSON.stringify(key.slice(0, 40))} is not a tracestate key`;
    if (!TRACESTATE_VALUE.test(member.slice(eq + 1)))
      return `the value of ${JSON.stringify(key)} is not a tracestate value`;
    if (keys.has(key)) return `the key ${JSON.stringify(key)} appears twice`;
    keys.add(key);
    if (keys.size > MAX_TRACESTATE_MEMBERS) return `it has more than ${MAX_TRACESTATE_MEMBERS} list members`;
  }
  return TRACESTATE.test(text) ? undefined : 'it is not a comma-separated list of key=value members';
}

/** Parses a traceparent; `undefined` when it is not a valid one. */
export function parseTraceparent(text: unknown): TraceParent | undefined {
  if (traceparentProblem(text) !== undefined) return undefined;
  const s = text as string;
  return {
    version: s.slice(0, 2),
    traceId: s.slice(3, 35),
    spanId: s.slice(36, 52),
    flags: Number.parseInt(s.slice(53, 55), 16),
  };
}

/** The version-00 traceparent of a span context. */
export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${(flags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * Checks the trace context a caller put in an event's metadata (at `at`, e.g. `events[0].metadata`): a
 * traceparent must be valid, a tracestate valid and accompanied by a traceparent. Returns whether the metadata
 * holds a traceparent (then it wins over the active OpenTelemetry context).
 */
export function checkMetadataTraceContext(metadata: Record<string, unknown>, at: string): boolean {
  const traceparent = metadata.traceparent;
  const tracestate = metadata.tracestate;
  if (traceparent === undefined) {
    if (tracestate !== undefined) {
      throw new InvalidTraceContextError(
        `${at}.tracestate`,
        tracestate,
        'a tracestate needs the traceparent it belongs to, and the metadata has none',
      );
    }
    return false;
  }
  const problem = traceparentProblem(traceparent);
  if (problem !== undefined) throw new InvalidTraceContextError(`${at}.traceparent`, traceparent, problem);
  if (tracestate !== undefined) {
    const stateProblem = tracestateProblem(tracestate, true);
    if (stateProblem !== undefined)
      throw new InvalidTraceContextError(`${at}.tracestate`, tracestate, stateProblem);
  }
  return true;
}
