import { DeliveryRejectedError, type DeliveryRejectReason } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';
import { toStoredEvent, type EventRow } from '../store/read.js';
import type { LaneItem } from './apply-batch.js';
import type { LaneContext } from './lane-context.js';
import { loadEventsById } from './sql.js';
import { sealedFields } from '../store/personal-data.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface Verified {
  /** The deliveries the store confirms, each carrying the store's copy of its event (upcast by the contracts). */
  kept: LaneItem[];
  rejected: { item: LaneItem; error: DeliveryRejectedError }[];
}

/**
 * Bus mode: a message is a notification, the store is the truth. Reads the events a batch of deliveries names in one
 * query and swaps each delivered event for the store's copy, upcast exactly as the log path would. A delivery that
 * names an event the store does not hold is returned as rejected: it must never reach a handler nor move the order
 * guard. Items verified by an earlier call are kept as they are.
 */
export async function verifyDeliveries(ctx: LaneContext, items: readonly LaneItem[]): Promise<Verified> {
  const ids: string[] = [];
  for (const item of items) if (!item.verified && UUID.test(item.event.id)) ids.push(item.event.id);
  const rows = await loadEventsById(ctx.store.executor, ctx.q, ids);
  const byId = new Map<string, EventRow>();
  for (const row of rows) byId.set(row.id.toLowerCase(), row);
  // The store's copies with personal fields decrypted, or erased once their subject is forgotten: a message the
  // bus still holds from before a forget is handled with the store's erased copy, never with its own.
  const sealed = rows.map(toStoredEvent).filter((e) => sealedFields(e).length > 0);
  const revealed = new Map<string, StoredEvent>();
  if (sealed.length > 0) {
    for (const e of await ctx.store.reveal(sealed, 'mark')) revealed.set(e.id.toLowerCase(), e);
  }
  const contracts = ctx.store.contracts;
  const out: Verified = { kept: [], rejected: [] };
  const reject = (item: LaneItem, reason: DeliveryRejectReason, what: string): void => {
    const e = item.event;
    out.rejected.push({
      item,
      error: new DeliveryRejectedError(
        reason,
        ctx.consumer.name,
        {
          id: String(e.id),
          stream: String(e.stream),
          streamPosition: e.streamPosition,
          type: String(e.type),
        },
        what,
      ),
    });
  };
  for (const item of items) {
    if (item.verified) {
      out.kept.push(item);
      continue;
    }
    const delivered = item.event;
    const row = typeof delivered.id === 'string' ? byId.get(delivered.id.toLowerCase()) : undefined;
    if (!row) {
      reject(item, 'unknown_event', 'the store holds no event with this id');
      continue;
    }
    const stored = toStoredEvent(row);
    if (
      stored.stream !== delivered.stream ||
      stored.streamPosition !== delivered.streamPosition ||
      stored.type !== delivered.type
    ) {
      reject(
        item,
        'wrong_position',
        `the store holds this id as ${JSON.stringify(stored.type)} at ${JSON.stringify(stored.stream)} position ` +
          `${stored.streamPosition}`,
      );
      continue;
    }
    // Personal fields differ by design (the bus carries them decrypted, or erased): compare the rest.
    const personal = sealedFields(stored);
    const plain = personal.length === 0 ? stored : revealed.get(row.id.toLowerCase())!;
    const current = contracts === undefined ? plain : contracts.upcast(plain);
    const same = (a: StoredEvent, b: StoredEvent): boolean =>
      personal.length === 0 ? sameContent(a, b) : sameContent(without(a, personal), without(b, personal));
    // The embedded bus hands over what the relay read (already upcast); broker buses carry the stored version.
    if (!same(delivered, stored) && (current === stored || !same(delivered, current))) {
      reject(item, 'other_content', 'its data differs from the event the store holds under this id');
      continue;
    }
    out.kept.push({ ...item, event: current, verified: true });
  }
  return out;
}

function without(e: StoredEvent, fields: readonly string[]): StoredEvent {
  if (typeof e.data !== 'object' || e.data === null || Array.isArray(e.data)) return e;
  const data = { ...e.data };
  for (const f of fields) delete data[f];
  return { ...e, data };
}

function sameContent(a: StoredEvent, b: StoredEvent): boolean {
  return a.version === b.version && jsonEqual(a.data, b.data);
}

/** Deep equality of JSON values, whatever the key order (jsonb reorders keys). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}
