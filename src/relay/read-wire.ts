import { decodeCloudEvent, encodeCloudEvent } from '../bus/cloudevents.js';
import { unreadableError } from '../store/personal-data.js';
import type { EventMetadata, StoredEvent } from '../events/envelope.js';
import type { JsonValue } from '../events/json.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import { formatCheckpoint, parseCheckpoint } from '../store/names.js';
import { notArchivedSql } from '../store/read.js';
import {
  MAX_TRACEPARENT_LENGTH,
  MAX_TRACESTATE_LENGTH,
  TRACEPARENT_PATTERN,
  TRACESTATE_PATTERN,
} from '../tracing/trace-context.js';

/** A metadata key holding a string of at most `max` characters that matches `pattern` (no quote in it). */
const matches = (key: string, max: number, pattern: string): string =>
  `(jsonb_typeof(metadata -> '${key}') = 'string' and length(metadata ->> '${key}') <= ${max}
     and (metadata ->> '${key}') ~ '${pattern}')`;
// Sent as attributes only when valid, as toCloudEvent does; anything else stays in elmetadata.
const TRACEPARENT_OK = matches('traceparent', MAX_TRACEPARENT_LENGTH, TRACEPARENT_PATTERN);
const TRACESTATE_OK = `(${TRACEPARENT_OK} and ${matches('tracestate', MAX_TRACESTATE_LENGTH, TRACESTATE_PATTERN)})`;

/** An RFC 3339 UTC instant with milliseconds, as `Date.prototype.toISOString` writes it. */
const iso = (column: string): string =>
  `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** A metadata key that travels as an attribute of its own when it holds a string. */
const isString = (key: string): string => `jsonb_typeof(metadata -> '${key}') = 'string'`;

/**
 * `elmetadata`: the metadata keys not sent as attributes, as JSON text inside the JSON; absent when none is left.
 * The usual metadata (none, or only a correlationId) is settled by the first test without building a new jsonb.
 */
const ELMETADATA = `case
    when metadata = '{}'::jsonb or (metadata - 'correlationId' = '{}'::jsonb and ${isString('correlationId')}) then null
    else ',"elmetadata":' || to_json(nullif(metadata - array_remove(array[
        case when ${isString('correlationId')} then 'correlationId' end,
        case when ${isString('causationId')} then 'causationId' end,
        case when ${TRACEPARENT_OK} then 'traceparent' end,
        case when ${TRACESTATE_OK} then 'tracestate' end], null), '{}'::jsonb)::text)::text
  end`;

/**
 * The relay's log read for broker buses: the same rows, in the same commit order and with the same visibility rule
 * as `readLog` (src/store/read.ts — keep the two WHERE clauses alike), but each event arrives already encoded as its
 * CloudEvents JSON, built by PostgreSQL.
 *
 * Why: on a 2-core machine the relay is CPU-bound in Node.js. Decoding jsonb and timestamps into a StoredEvent and
 * encoding it again as JSON cost about a quarter of the time per event next to the NATS client itself; PostgreSQL
 * builds the text on its own core while Node.js publishes. `decodeCloudEvent(payload)` yields exactly the event
 * `readLog` returns (tested), so consumers cannot tell the two paths apart.
 *
 * The text is written by one `concat()` (which skips the NULLs of absent attributes), not as a jsonb object turned
 * into text: building, stripping and printing a jsonb cost PostgreSQL ≈ 25 µs of CPU per row, three times the
 * concatenation (BENCHMARKS.md, Relay). Strings are escaped by `to_json`, or are jsonb strings printed as such.
 *
 * `source` is the placeholder of the CloudEvents source parameter.
 */
const wireColumns = (source: string): string => `
  select e.tx_order::text as tx_text, e.global_position::text as position_text, e.id::text as id, e.stream,
         e.metadata ? 'eventlane.personal' as personal,
         concat('{"specversion":"1.0","id":"', e.id, '","source":', to_json(${source}::text),
           ',"type":', to_json(e.type), ',"subject":', to_json(e.stream),
           ',"time":"', ${iso('e.occurred_at')}, '","datacontenttype":"application/json","partitionkey":',
           to_json(e.stream), ',"sequence":"', lpad(e.stream_position::text, 20, '0'),
           '","dataversion":"', e.version, '"',
           case when ${isString('correlationId')} then ',"correlationid":' || (metadata -> 'correlationId')::text end,
           case when ${isString('causationId')} then ',"causationid":' || (metadata -> 'causationId')::text end,
           case when ${TRACEPARENT_OK} then ',"traceparent":' || (metadata -> 'traceparent')::text end,
           case when ${TRACESTATE_OK} then ',"tracestate":' || (metadata -> 'tracestate')::text end,
           ${ELMETADATA},
           ',"elglobalposition":"', e.global_position, '","elcheckpoint":"', e.tx_order, ':', e.global_position,
           '","elrecordedat":"', ${iso('e.recorded_at')}, '","data":', e.data, '}') as payload`;

const WIRE_SQL = (q: string): string => `${wireColumns('$4')}
    from ${q}.events e
   where (e.tx_order, e.global_position) > ($1::text::xid8, $2::bigint)
     and e.tx_order < (select pg_snapshot_xmin(pg_current_snapshot()))
     and ${notArchivedSql(q)}
   -- Qualified on purpose: a bare "tx_order" here would sort by a text output column of the same name.
   order by e.tx_order, e.global_position
   limit $3`;

interface WireRow {
  tx_text: string;
  position_text: string;
  id: string;
  stream: string;
  personal: boolean;
  payload: string;
}

/** Decrypts personal fields (see src/store/personal-data.ts) for the store it is given. */
export type Reveal = (events: StoredEvent[]) => Promise<StoredEvent[]>;

/**
 * Rows with personal fields are re-encoded in Node.js with the fields decrypted, or erased for a forgotten subject.
 * A row whose field fails to decrypt goes out as stored (encrypted): consumers handle the store's copy, which parks.
 */
async function revealRows(rows: WireRow[], reveal: Reveal | undefined): Promise<WireRow[]> {
  if (reveal === undefined || !rows.some((r) => r.personal)) return rows;
  const sealed = rows.filter((r) => r.personal);
  const revealed = await reveal(sealed.map((r) => decodeCloudEvent(r.payload)));
  const byId = new Map(revealed.map((e) => [e.id, e]));
  return rows.map((r) => {
    if (!r.personal) return r;
    const event = byId.get(r.id)!;
    if (unreadableError(event) !== undefined) return r;
    const source = (JSON.parse(r.payload) as { source?: string }).source;
    return { ...r, payload: encodeCloudEvent(event, { source }) };
  });
}

export interface WireEvent {
  /** A StoredEvent whose fields other than id, stream and checkpoint are decoded from `payload` on first use. */
  event: StoredEvent;
  /** CloudEvents JSON without `elpartition` (the relay adds it). */
  payload: string;
}

export async function readLogWire(
  db: SqlExecutor,
  q: string,
  after: string,
  limit: number,
  source: string,
  reveal?: Reveal,
): Promise<{ events: WireEvent[]; checkpoint: string }> {
  const position = parseCheckpoint(after);
  const rows = await revealRows(
    await db.query<WireRow>(
      WIRE_SQL(q),
      [position.txOrder.toString(), position.globalPosition.toString(), limit, source],
      // Planned once per connection: the plan (the commit-order index) does not depend on the position.
      { prepare: true },
    ),
    reveal,
  );
  const events = rows.map((r) => {
    const checkpoint = formatCheckpoint(r.tx_text, r.position_text);
    return { event: new LazyStoredEvent(r.id, r.stream, checkpoint, r.payload), payload: r.payload };
  });
  const last = events[events.length - 1];
  return { events, checkpoint: last ? last.event.checkpoint : after };
}

/** The events at these global positions, encoded as by `readLogWire`, in commit order (for parked events). */
export async function readWireAt(
  db: SqlExecutor,
  q: string,
  globalPositions: readonly string[],
  source: string,
  reveal?: Reveal,
): Promise<WireEvent[]> {
  const rows = await revealRows(
    await db.query<WireRow>(
      `${wireColumns('$2')}
         from ${q}.events e
        where e.global_position = any($1::bigint[])
        order by e.tx_order, e.global_position`,
      [globalPositions, source],
    ),
    reveal,
  );
  return rows.map((r) => ({
    event: new LazyStoredEvent(r.id, r.stream, formatCheckpoint(r.tx_text, r.position_text), r.payload),
    payload: r.payload,
  }));
}

/**
 * Adapters only need the id (de-duplication) and the payload; a custom bus that reads more fields pays for the
 * decoding then, once.
 */
class LazyStoredEvent implements StoredEvent {
  #full: StoredEvent | undefined;
  constructor(
    readonly id: string,
    readonly stream: string,
    readonly checkpoint: string,
    payload: string,
  ) {
    this.#payload = payload;
  }
  readonly #payload: string;
  #get(): StoredEvent {
    return (this.#full ??= decodeCloudEvent(this.#payload));
  }
  get type(): string {
    return this.#get().type;
  }
  get version(): number {
    return this.#get().version;
  }
  get streamPosition(): number {
    return this.#get().streamPosition;
  }
  get globalPosition(): bigint {
    return this.#get().globalPosition;
  }
  get data(): JsonValue {
    return this.#get().data;
  }
  get metadata(): EventMetadata {
    return this.#get().metadata;
  }
  get occurredAt(): Date {
    return this.#get().occurredAt;
  }
  get recordedAt(): Date {
    return this.#get().recordedAt;
  }
}
