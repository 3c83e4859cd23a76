/**
 * Personal data (crypto-shredding): the fields a contract declares personal are stored encrypted with a data key of
 * their subject, and read back decrypted; once the subject's key is deleted (`store.forget`), they read as erased.
 *
 * Stored form of an event with personal fields (docs/retention.md#forgetting-personal-data):
 * - the personal fields present in `data` are removed from it and sealed together:
 *   `metadata["eventlane.personal"] = { "subject": "<subject>", "key": "<key id>", "fields": ["<field>", …],
 *   "sealed": "elenc2:" + base64url(iv ‖ ciphertext ‖ tag) }` — AES-256-GCM with a random 12-byte iv, the JSON text
 *   of an object holding the fields as plaintext, and `eventlane:<event id>:<fields joined by ",">` as additional
 *   authenticated data, so a value copied to another event, or a field list edited, fails authentication. One cipher
 *   per event: creating an AES-GCM context costs more than encrypting a field.
 * - The first stored form (`elenc1`, still read): each personal field kept its place in `data`, holding `elenc1:` +
 *   base64url(iv ‖ ciphertext ‖ tag) of the field's JSON text with `eventlane:<event id>:<field>` as additional
 *   data, and the mark had no `sealed`.
 * The key id says under which of the subject's keys: a subject forgotten and then given new personal data has a new
 * key, and its older events stay erased.
 *
 * Read form: the fields decrypted and the marker removed; for a forgotten subject the fields are `null` and
 * `metadata.erased` lists them.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { PersonalDataUnreadableError, PersonalSubjectError } from '../errors.js';
import type { EventMetadata, NewEvent, StoredEvent } from '../events/envelope.js';
import { uuidv7 } from '../events/ids.js';
import { toJsonText, type JsonValue } from '../events/json.js';
import type { AnyEventContract, PersonalFields } from '../contracts/types.js';
import type { SqlExecutor } from './drivers/driver.js';

/** The metadata key that marks an event's stored personal fields. */
export const PERSONAL_MARK = 'eventlane.personal';
/** The metadata key that lists the fields a forgotten subject's event reads without. */
export const ERASED_MARK = 'erased';
const PREFIX = 'elenc1:';
const SEALED_PREFIX = 'elenc2:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Longest subject (characters): subjects are ids, not documents. */
export const MAX_SUBJECT_LENGTH = 200;
/** Data keys kept in memory for appends (never for reads: a forget must take effect on every reader at once). */
const KEY_CACHE_SIZE = 10_000;

export interface SubjectKey {
  keyId: string;
  key: Buffer;
}

/** Set (enumerable, so spreads keep it) on an event whose personal field failed authentication. */
export const UNREADABLE = Symbol.for('eventlane.personal.unreadable');

/** The error of an event read with `'mark'` whose personal data cannot be decrypted, if any. */
export function unreadableError(event: object): Error | undefined {
  return (event as { [UNREADABLE]?: Error })[UNREADABLE];
}

/** The personal fields of each declared type that has some; undefined when none does. */
export function personalTypes(
  contracts: readonly AnyEventContract[] | undefined,
): Map<string, PersonalFields> | undefined {
  const map = new Map<string, PersonalFields>();
  for (const c of contracts ?? []) if (c.personal !== undefined) map.set(c.type, c.personal);
  return map.size === 0 ? undefined : map;
}

// Random ivs are drawn from a pool refilled 4 KiB at a time: one randomBytes call per event and field cost more
// than the encryption itself.
let ivPool = Buffer.alloc(0);
let ivAt = 0;
function nextIv(): Buffer {
  if (ivAt + IV_BYTES > ivPool.length) {
    ivPool = randomBytes(IV_BYTES * 341);
    ivAt = 0;
  }
  ivAt += IV_BYTES;
  return ivPool.subarray(ivAt - IV_BYTES, ivAt);
}

function seal(key: Buffer, aadText: string, plaintext: string): string {
  const iv = nextIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aadText));
  const body = cipher.update(plaintext, 'utf8');
  cipher.final(); // GCM is a stream mode: final() adds no bytes.
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

function open(key: Buffer, aadText: string, value: unknown, prefix: string): string {
  if (typeof value !== 'string' || !value.startsWith(prefix)) throw new Error('not an eventlane envelope');
  const raw = Buffer.from(value.slice(prefix.length), 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('the envelope is too short');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(aadText));
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  return Buffer.concat([
    decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)),
    decipher.final(),
  ]).toString('utf8');
}

function sealedAad(eventId: string, fields: readonly string[]): string {
  return `eventlane:${eventId.toLowerCase()}:${fields.join(',')}`;
}

/** The fields of an event sealed in its mark (`elenc2`), by name; throws when they cannot be decrypted. */
function openSealed(key: Buffer, eventId: string, mark: Mark): Record<string, JsonValue> {
  const text = open(key, sealedAad(eventId, mark.fields), mark.sealed, SEALED_PREFIX);
  const fields = JSON.parse(text) as Record<string, JsonValue>;
  for (const f of mark.fields) if (!Object.hasOwn(fields, f)) throw new Error(`the sealed data lacks ${f}`);
  return fields;
}

/** One field of the first stored form (`elenc1`), in place in `data`. */
function openField(key: Buffer, eventId: string, field: string, value: unknown): JsonValue {
  return JSON.parse(open(key, `eventlane:${eventId.toLowerCase()}:${field}`, value, PREFIX)) as JsonValue;
}

/** A subject as the append takes it: a non-empty string (a number is turned into its decimal text). */
function subjectOf(event: NewEvent, index: number, spec: PersonalFields): string {
  const data = event.data as Record<string, unknown> | null;
  const value = typeof data === 'object' && data !== null ? data[spec.subject] : undefined;
  const subject = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (typeof subject !== 'string' || subject.trim() === '' || subject.length > MAX_SUBJECT_LENGTH) {
    throw new PersonalSubjectError(
      `events[${index}] (${event.type}) declares personal fields of the subject in data.${spec.subject}, but that ` +
        `is ${subject === undefined ? 'missing' : JSON.stringify(subject)?.slice(0, 80)}. Give every such event ` +
        `its subject as a non-empty string of at most ${MAX_SUBJECT_LENGTH} characters (e.g. the user id).`,
      { index, type: event.type, field: spec.subject },
    );
  }
  return subject;
}

/** The subjects of the events that carry personal fields, in order of first appearance; empty when none does. */
export function subjectsOf(events: readonly NewEvent[], types: Map<string, PersonalFields>): string[] {
  const subjects: string[] = [];
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    const spec = types.get(event.type);
    if (spec === undefined || presentFields(event, spec).length === 0) continue;
    const subject = subjectOf(event, i, spec);
    if (!subjects.includes(subject)) subjects.push(subject);
  }
  return subjects;
}

/** The event's personal fields that it carries (a field left out or `undefined` is not sealed). */
function presentFields(event: NewEvent, spec: PersonalFields): string[] {
  const present: string[] = [];
  for (const f of spec.fields) if (fieldOf(event, f) !== undefined) present.push(f);
  return present;
}

function fieldOf(event: NewEvent, field: string): unknown {
  const data = event.data as Record<string, unknown> | null;
  return typeof data === 'object' && data !== null ? data[field] : undefined;
}

/** The events with their personal fields encrypted (ids are fixed here: they bind each ciphertext to its event). */
export function sealEvents(
  events: readonly NewEvent[],
  types: Map<string, PersonalFields>,
  keys: ReadonlyMap<string, SubjectKey>,
): NewEvent[] {
  const sealed: NewEvent[] = [];
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    const spec = types.get(event.type);
    const present = spec === undefined ? [] : presentFields(event, spec);
    sealed.push(present.length === 0 ? event : sealEvent(event, i, spec!, present, keys));
  }
  return sealed;
}

function sealEvent(
  event: NewEvent,
  index: number,
  spec: PersonalFields,
  present: string[],
  keys: ReadonlyMap<string, SubjectKey>,
): NewEvent {
  const subject = subjectOf(event, index, spec);
  const key = keys.get(subject)!;
  const id = event.id ?? uuidv7();
  // The data without its personal fields, built afresh (deleting properties would slow every later use of it).
  const source = event.data as Record<string, unknown>;
  const data: Record<string, unknown> = {};
  const fields: Record<string, unknown> = {};
  for (const name of Object.keys(source)) {
    if (present.includes(name)) fields[name] = source[name];
    else data[name] = source[name];
  }
  const plaintext = toJsonText(fields, `events[${index}].data`);
  const sealed = SEALED_PREFIX + seal(key.key, sealedAad(id, present), plaintext);
  const metadata: EventMetadata = {
    ...event.metadata,
    [PERSONAL_MARK]: { subject, key: key.keyId, fields: present, sealed },
  };
  return { ...event, id, data, metadata };
}

interface KeyRow {
  subject: string;
  key_id: string;
  key_hex: string;
}

/** The keys of `subjects`, creating the missing ones (in the executor's transaction when it is one). */
export async function loadOrCreateKeys(
  ex: SqlExecutor,
  q: string,
  subjects: readonly string[],
): Promise<Map<string, SubjectKey>> {
  const keys = new Map<string, SubjectKey>();
  for (let attempt = 0; attempt < 3 && keys.size < subjects.length; attempt++) {
    const wanted = subjects.filter((s) => !keys.has(s));
    // A key a concurrent append creates is committed after this statement's snapshot: the next round reads it.
    const rows = await ex.query<KeyRow>(
      `with fresh as (
         insert into ${q}.subject_keys (subject, key_id, key)
         select s, k, decode(h, 'hex') from unnest($1::text[], $2::uuid[], $3::text[]) as w(s, k, h)
         on conflict (subject) do nothing
         returning subject, key_id::text, encode(key, 'hex') as key_hex)
       select subject, key_id, key_hex from fresh
       union all
       select subject, key_id::text, encode(key, 'hex') from ${q}.subject_keys
        where subject = any($1::text[]) and subject not in (select subject from fresh)`,
      [wanted, wanted.map(() => randomUUID()), wanted.map(() => randomBytes(32).toString('hex'))],
    );
    for (const r of rows) keys.set(r.subject, { keyId: r.key_id, key: Buffer.from(r.key_hex, 'hex') });
  }
  if (keys.size < subjects.length) throw new Error('subject keys could not be created');
  return keys;
}

/** The append side's memory of keys; an append under a key forgotten since is refused by the database. */
export class SubjectKeyCache {
  readonly #keys = new Map<string, SubjectKey>();

  get(subjects: readonly string[]): Map<string, SubjectKey> | undefined {
    const found = new Map<string, SubjectKey>();
    for (const s of subjects) {
      const key = this.#keys.get(s);
      if (key === undefined) return undefined;
      found.set(s, key);
    }
    return found;
  }

  put(keys: ReadonlyMap<string, SubjectKey>): void {
    for (const [subject, key] of keys) {
      this.#keys.delete(subject);
      this.#keys.set(subject, key);
      if (this.#keys.size > KEY_CACHE_SIZE) this.#keys.delete(this.#keys.keys().next().value!);
    }
  }

  drop(subjects: Iterable<string>): void {
    for (const s of subjects) this.#keys.delete(s);
  }
}

interface Mark {
  subject: string;
  key: string;
  fields: string[];
  /** The sealed fields (`elenc2:…`); absent in the first stored form, whose fields are sealed in place. */
  sealed?: unknown;
}

function markOf(metadata: EventMetadata): Mark | undefined {
  const mark = metadata?.[PERSONAL_MARK] as
    { subject?: unknown; key?: unknown; fields?: unknown; sealed?: unknown } | undefined;
  if (mark === undefined || mark === null) return undefined;
  if (typeof mark.subject !== 'string' || typeof mark.key !== 'string' || !Array.isArray(mark.fields)) {
    return { subject: '', key: '', fields: [] };
  }
  return {
    subject: mark.subject,
    key: mark.key,
    fields: mark.fields.filter((f): f is string => typeof f === 'string'),
    ...(mark.sealed !== undefined ? { sealed: mark.sealed } : {}),
  };
}

/** True when the stored event carries encrypted personal fields. */
export function isSealed(event: Pick<StoredEvent, 'metadata'>): boolean {
  return markOf(event.metadata) !== undefined;
}

/** The fields the stored event holds encrypted (empty when none). */
export function sealedFields(event: Pick<StoredEvent, 'metadata'>): string[] {
  return markOf(event.metadata)?.fields ?? [];
}

/**
 * The events with their personal fields decrypted, or erased for forgotten subjects. Keys are read from the
 * database on every call (one query, only when some event is sealed), never from a cache. A field that fails
 * authentication throws PersonalDataUnreadableError with `'throw'`; with `'mark'` the event is returned as stored,
 * carrying the error under UNREADABLE for the consumer that handles it (so one bad row parks one stream).
 */
export async function revealEvents<E extends StoredEvent>(
  ex: Pick<SqlExecutor, 'query'>,
  q: string,
  events: E[],
  mode: 'throw' | 'mark',
): Promise<E[]> {
  let subjects: Set<string> | undefined;
  for (const e of events) {
    const mark = markOf(e.metadata);
    if (mark !== undefined) (subjects ??= new Set()).add(mark.subject);
  }
  if (subjects === undefined) return events;
  const rows = await ex.query<KeyRow>(
    `select subject, key_id::text, encode(key, 'hex') as key_hex from ${q}.subject_keys where subject = any($1::text[])`,
    [[...subjects]],
  );
  const keys = new Map(rows.map((r) => [`${r.subject}\u0000${r.key_id}`, Buffer.from(r.key_hex, 'hex')]));
  return events.map((e) => {
    const mark = markOf(e.metadata);
    if (mark === undefined) return e;
    const metadata: EventMetadata = { ...e.metadata };
    delete metadata[PERSONAL_MARK];
    const data = { ...(e.data as Record<string, JsonValue>) };
    // The key the fields were sealed with: gone when the subject was forgotten (and maybe given a new key since).
    const key = keys.get(`${mark.subject}\u0000${mark.key}`);
    if (key === undefined) {
      for (const f of mark.fields) data[f] = null;
      metadata[ERASED_MARK] = mark.fields;
      return { ...e, data, metadata };
    }
    let field = mark.fields.join(',');
    try {
      if (mark.sealed !== undefined) Object.assign(data, openSealed(key, e.id, mark));
      else for (field of mark.fields) data[field] = openField(key, e.id, field, data[field]);
    } catch (cause) {
      const ref = { id: e.id, stream: e.stream, streamPosition: e.streamPosition, type: e.type, field };
      const error = new PersonalDataUnreadableError(
        ref,
        (cause as Error).message.includes('authenticate')
          ? 'it fails authentication'
          : (cause as Error).message,
        cause,
      );
      if (mode === 'throw') throw error;
      return { ...e, [UNREADABLE]: error };
    }
    return { ...e, data, metadata };
  });
}

/** Deletes the subject's key; resolves to whether there was one. */
export async function deleteSubjectKey(ex: SqlExecutor, q: string, subject: string): Promise<boolean> {
  const rows = await ex.query(`delete from ${q}.subject_keys where subject = $1 returning subject`, [
    subject,
  ]);
  return rows.length > 0;
}
