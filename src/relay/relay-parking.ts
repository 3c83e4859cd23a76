import { revealEvents } from '../store/personal-data.js';
import { decodeCloudEvent } from '../bus/cloudevents.js';
import { messageBytes } from '../bus/limits.js';
import { storedErrorText } from '../events/error-text.js';
import { partitionOf } from '../bus/partition.js';
import type { Bus, BusMessage } from '../bus/types.js';
import { ErrorCodes, EventlaneError, MessageTooLargeError } from '../errors.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import { parseCheckpoint } from '../store/names.js';
import type { Lease } from './lease.js';
import { readWireAt, type WireEvent } from './read-wire.js';

/**
 * Relay parking: an event the bus can never take (larger than `bus.maxMessageBytes`, or refused by `publish()`
 * with `MessageTooLargeError`) is set aside in `relay_parked` instead of being retried forever, so the outbox goes
 * on. Per-stream order on the bus is kept by holding every later event of that stream behind it (rows with status
 * 'held', in commit order) until an operator retries or skips it (src/relay/parking-admin.ts); the relay then
 * publishes the held events in order.
 *
 * Rows are written in the same flight as the batch they were read in, and the relay's checkpoint moves past a batch
 * only after both the broker's acknowledgement and the rows' insert: an event is always on the bus, in the table,
 * or after the checkpoint (at least once, no gap).
 */

/** Whether `error` is a permanent refusal of one message: parking it, not retrying the batch, is the way on. */
export function refusedEventId(error: unknown): string | undefined {
  if (error instanceof MessageTooLargeError) return error.eventId;
  if (error instanceof EventlaneError && error.code === ErrorCodes.MESSAGE_TOO_LARGE) {
    const id = error.details.eventId;
    return typeof id === 'string' ? id : undefined;
  }
  return undefined;
}

/** A wire-encoded event as the message the bus gets (elpartition spliced into the payload). */
export function wireMessage(wire: WireEvent, partitions: number, embedded: boolean): BusMessage {
  const partition = partitionOf(wire.event.stream, partitions);
  // The embedded bus hands events on as objects: give it the full event, not one that decodes lazily.
  if (embedded) return { event: decodeCloudEvent(wire.payload), partition };
  // elpartition is known only here (the hash is computed in JavaScript); splice it in front.
  return { event: wire.event, partition, payload: `{"elpartition":${partition},${wire.payload.slice(1)}` };
}

interface Refusal {
  message: string;
  code: string;
  sizeBytes: number | null;
  limitBytes: number | null;
}

interface NewRow extends Partial<Refusal> {
  global_position: string;
  event_id: string;
  status: 'parked' | 'held';
}

interface OpenRow {
  id: string;
  stream: string;
  status: 'parked' | 'held' | 'retry' | 'skip';
  global_position: string;
}

interface Update {
  id: string;
  status: 'parked' | 'published' | 'skipped';
  attempt: number;
  error?: string;
  error_code?: string;
  size_bytes?: number | null;
  limit_bytes?: number | null;
}

const OPEN = `('parked', 'held', 'retry', 'skip')`;

export class RelayParking {
  /** Streams with an open row: their next events are held, not published. */
  readonly blocked = new Set<string>();
  /** Events a `publish()` refused for good; parked when their page is read again. */
  readonly refused = new Map<string, Refusal>();

  constructor(
    readonly db: SqlExecutor,
    readonly q: string,
    readonly relay: string,
    readonly bus: Bus,
    readonly onParked: (count: number) => void = () => undefined,
  ) {}

  async load(): Promise<void> {
    const rows = await this.db.query<{ stream: string }>(
      `select distinct stream from ${this.q}.relay_parked where relay = $1 and status in ${OPEN}`,
      [this.relay],
    );
    this.blocked.clear();
    for (const r of rows) this.blocked.add(r.stream);
  }

  /** Why the bus can never take `m`, or undefined when it can. */
  #refusal(m: BusMessage): Refusal | undefined {
    const refused = this.refused.get(m.event.id);
    if (refused) return refused;
    const limit = this.bus.maxMessageBytes ?? Infinity;
    if (!Number.isFinite(limit)) return undefined;
    const size = messageBytes(m, limit);
    if (size <= limit) return undefined;
    const error = new MessageTooLargeError(this.bus.kind, m.event, size, limit);
    return { message: error.message, code: error.code, sizeBytes: size, limitBytes: limit };
  }

  /** Records a refusal `publish()` reported, so the next read of that page parks the event. */
  refuse(error: unknown, eventId: string): void {
    const e = error as Partial<MessageTooLargeError>;
    this.refused.set(eventId, {
      // A custom bus's error text is stored: sanitised and capped like a handler's (a NUL would fail the insert).
      message: storedErrorText(error).message,
      code: storedErrorText(error).code ?? ErrorCodes.MESSAGE_TOO_LARGE,
      sizeBytes: typeof e.sizeBytes === 'number' ? e.sizeBytes : null,
      limitBytes: typeof e.limitBytes === 'number' ? e.limitBytes : null,
    });
  }

  /** Splits a page into what to publish now and what to park or hold (in page order, so in commit order). */
  split(messages: BusMessage[]): { publish: BusMessage[]; rows: NewRow[] } {
    if (
      this.blocked.size === 0 &&
      this.refused.size === 0 &&
      !Number.isFinite(this.bus.maxMessageBytes ?? Infinity)
    )
      return { publish: messages, rows: [] };
    const publish: BusMessage[] = [];
    const rows: NewRow[] = [];
    const at = (m: BusMessage): string => parseCheckpoint(m.event.checkpoint).globalPosition.toString();
    for (const m of messages) {
      if (this.blocked.has(m.event.stream)) {
        rows.push({ global_position: at(m), event_id: m.event.id, status: 'held' });
        continue;
      }
      const refusal = this.#refusal(m);
      if (!refusal) {
        publish.push(m);
        continue;
      }
      this.blocked.add(m.event.stream);
      rows.push({ global_position: at(m), event_id: m.event.id, status: 'parked', ...refusal });
    }
    return { publish, rows };
  }

  /**
   * Inserts parked and held rows while `lease` is still ours (false when it is not). Idempotent: a page read again
   * after a crash or an error finds its rows there already.
   */
  async write(rows: NewRow[], lease: Lease): Promise<boolean> {
    if (rows.length === 0) return true;
    const [row] = await this.db.query<{ fenced: boolean; inserted: number }>(
      `with fence as (
         select 1 from ${this.q}.relay_checkpoints where name = $1 and fencing_token = $3::bigint for share),
       ins as (
         insert into ${this.q}.relay_parked as p
                (relay, event_id, stream, stream_position, event_type, tx_order, global_position, status,
                 error, error_code, size_bytes, limit_bytes)
         select $1, e.id, e.stream, e.stream_position, e.type, e.tx_order, e.global_position, r.status,
                r.message, r.code, r."sizeBytes", r."limitBytes"
           from jsonb_to_recordset($2::jsonb) as r(global_position bigint, status text, message text, code text,
                                                   "sizeBytes" bigint, "limitBytes" bigint)
           join ${this.q}.events e on e.global_position = r.global_position
          where exists (select 1 from fence)
         on conflict (relay, event_id) do nothing
         returning p.status)
       select exists (select 1 from fence) as fenced,
              (select count(*)::int from ins where status = 'parked') as inserted`,
      [this.relay, JSON.stringify(rows), lease.token.toString()],
    );
    if (!row?.fenced) return false;
    if (row.inserted > 0) this.onParked(row.inserted);
    for (const r of rows) {
      if (r.status === 'parked') this.refused.delete(r.event_id);
    }
    return true;
  }

  /**
   * Publishes what operators released: for each stream whose first open row is 'retry', 'skip' (or 'held', its
   * parked event done), the released event (unless skipped) and the held ones after it, in order, up to the next
   * event the bus still refuses (parked in turn). Call only with nothing else in flight, so the held events reach
   * the bus before any later event of their stream. Returns how many were published, and whether rows beyond
   * `limit` wait (call again soon).
   */
  async release(
    partitions: number,
    source: string,
    limit: number,
    publish: (messages: BusMessage[]) => Promise<void>,
  ): Promise<{ published: number; more: boolean }> {
    const rows = await this.db.query<OpenRow>(
      `with firsts as (
         select distinct on (stream) stream, status from ${this.q}.relay_parked
          where relay = $1 and status in ${OPEN}
          order by stream, tx_order, global_position)
       select p.id::text as id, p.stream, p.status, p.global_position::text as global_position
         from ${this.q}.relay_parked p join firsts f on f.stream = p.stream
        where p.relay = $1 and p.status in ${OPEN} and f.status <> 'parked'
        order by p.stream, p.tx_order, p.global_position
        limit $2`,
      [this.relay, limit],
    );
    if (rows.length === 0) return { published: 0, more: false };
    const groups = new Map<string, OpenRow[]>();
    for (const r of rows) groups.set(r.stream, [...(groups.get(r.stream) ?? []), r]);
    const wire = await readWireAt(
      this.db,
      this.q,
      rows.map((r) => r.global_position),
      source,
      (events) => revealEvents(this.db, this.q, events, 'mark'),
    );
    const byPosition = new Map(
      wire.map((w) => [parseCheckpoint(w.event.checkpoint).globalPosition.toString(), w]),
    );
    let published = 0;
    for (const group of groups.values()) {
      const updates: Update[] = [];
      const first = group[0]!;
      const candidates = first.status === 'skip' ? group.slice(1) : group;
      if (first.status === 'skip') updates.push({ id: first.id, status: 'skipped', attempt: 0 });
      let ready: { row: OpenRow; message: BusMessage }[] = [];
      let stopper: { row: OpenRow; eventId: string; refusal: Refusal } | undefined;
      for (const row of candidates) {
        const w = byPosition.get(row.global_position);
        // Gone from the log (deleted by hand): nothing left to publish.
        if (!w) {
          updates.push({ id: row.id, status: 'skipped', attempt: 0, error: 'event no longer in the log' });
          continue;
        }
        const message = wireMessage(w, partitions, this.bus.kind === 'embedded');
        const refusal = this.#refusal(message);
        if (refusal) {
          stopper = { row, eventId: message.event.id, refusal };
          break;
        }
        ready.push({ row, message });
      }
      for (;;) {
        try {
          await publish(ready.map((r) => r.message));
          break;
        } catch (error) {
          const refusedId = refusedEventId(error);
          const at = ready.findIndex((r) => r.message.event.id === refusedId);
          if (at < 0) throw error;
          this.refuse(error, refusedId!);
          stopper = { row: ready[at]!.row, eventId: refusedId!, refusal: this.refused.get(refusedId!)! };
          ready = ready.slice(0, at);
        }
      }
      published += ready.length;
      for (const r of ready) updates.push({ id: r.row.id, status: 'published', attempt: 0 });
      if (stopper) {
        const { row, eventId, refusal } = stopper;
        this.refused.delete(eventId);
        updates.push({
          id: row.id,
          status: 'parked',
          attempt: row.status === 'retry' ? 1 : 0,
          error: refusal.message,
          error_code: refusal.code,
          size_bytes: refusal.sizeBytes,
          limit_bytes: refusal.limitBytes,
        });
      }
      await this.#update(updates);
      if (stopper && stopper.row.status !== 'retry') this.onParked(1);
    }
    await this.load();
    return { published, more: rows.length === limit };
  }

  async #update(updates: Update[]): Promise<void> {
    if (updates.length === 0) return;
    await this.db.query(
      `update ${this.q}.relay_parked p
          set status = u.status,
              attempts = p.attempts + u.attempt,
              error = coalesce(u.error, p.error),
              error_code = coalesce(u.error_code, p.error_code),
              size_bytes = coalesce(u.size_bytes, p.size_bytes),
              limit_bytes = coalesce(u.limit_bytes, p.limit_bytes),
              done_at = case when u.status in ('published', 'skipped') then now() end,
              updated_at = now()
         from jsonb_to_recordset($1::jsonb) as u(id bigint, status text, attempt int, error text, error_code text,
                                                 size_bytes bigint, limit_bytes bigint)
        where p.id = u.id`,
      [JSON.stringify(updates)],
    );
  }
}

/** Open parked and held rows of a relay, for stats and metrics. */
export async function parkedCounts(
  db: SqlExecutor,
  q: string,
  relay: string,
): Promise<{ parked: number; held: number }> {
  const [row] = await db.query<{ parked: number; held: number }>(
    `select count(*) filter (where status <> 'held')::int as parked,
            count(*) filter (where status = 'held')::int as held
       from ${q}.relay_parked where relay = $1 and status in ${OPEN}`,
    [relay],
  );
  return { parked: row?.parked ?? 0, held: row?.held ?? 0 };
}
