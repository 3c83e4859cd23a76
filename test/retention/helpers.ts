import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventStore, StoredEvent } from '../../src/index.js';
import { quoteIdent } from '../../src/store/names.js';
import { dropSchema, type storeTargets } from '../support/stores.js';

/** A fresh archive directory under the system's temp folder. */
export function tempDir(cleanups: (() => Promise<void>)[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'eventlane-archive-'));
  cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  return dir;
}

/** A store of `target`, closed (and its PostgreSQL schema dropped) by the cleanups. */
export async function openTarget(
  target: ReturnType<typeof storeTargets>[number],
  cleanups: (() => Promise<void>)[],
): Promise<EventStore> {
  const store = await target.open();
  cleanups.push(async () => {
    await store.close();
    if (target.name === 'pg') await dropSchema(store.schema);
  });
  return store;
}

/** `total` events over `streams` streams, `perCall` per append, with types order.created/paid/shipped in turn. */
export async function fill(store: EventStore, total: number, streams = 200, perCall = 500): Promise<void> {
  const types = ['order.created', 'order.paid', 'order.shipped'];
  let n = 0;
  let i = 0;
  while (n < total) {
    const count = Math.min(perCall, total - n);
    await store.append(
      `order-${i++ % streams}`,
      Array.from({ length: count }, (_, k) => ({
        type: types[(n + k) % 3]!,
        data: { n: n + k, note: 'ä€😀', nested: { list: [1, 2.5, null, true] } },
        metadata: { correlationId: `c-${n + k}` },
      })),
    );
    n += count;
  }
}

/** Every event of the log through iterateLog, in order. */
export async function readAll(store: EventStore, pageSize = 1000): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for await (const e of store.iterateLog({ pageSize })) out.push(e);
  return out;
}

export async function hotCount(store: EventStore): Promise<number> {
  const [row] = await store.executor.query<{ n: number }>(
    `select count(*)::int as n from ${quoteIdent(store.schema)}.events`,
  );
  return row!.n;
}

/** The checkpoint of the event at `index` (0-based) in commit order. */
export async function checkpointAt(store: EventStore, index: number): Promise<string> {
  const [row] = await store.executor.query<{ c: string }>(
    `select tx_order::text || ':' || global_position as c from ${quoteIdent(store.schema)}.events
      order by tx_order, global_position offset $1 limit 1`,
    [index],
  );
  return row!.c;
}
