import { createEventStore, type EventStore } from '../../src/index.js';
import { SERVICES } from '../support/services.js';
import { uniqueSchema } from '../support/stores.js';
import { scaled } from '../support/time.js';

export async function openPgStore(options: { poolSize?: number } = {}): Promise<EventStore> {
  return createEventStore({ url: SERVICES.postgres.url, schema: uniqueSchema(), ...options });
}

/** Polls `check` until true; `timeoutMs` (default 30 s) is scaled by EVENTLANE_TEST_TIME_SCALE. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<void> {
  timeoutMs = scaled(timeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Appends `total` events of type `item.added` ({ amount }) over `streams` streams, a few per call. */
export async function appendSpread(
  store: EventStore,
  total: number,
  streams: number,
  prefix = 's',
): Promise<void> {
  let n = 0;
  let i = 0;
  const writers = 4;
  const work = async () => {
    while (n < total) {
      const count = Math.min(total - n, 1 + (i % 3));
      n += count;
      const stream = `${prefix}-${i++ % streams}`;
      await store.append(
        stream,
        Array.from({ length: count }, () => ({
          type: 'item.added',
          data: { amount: 1 + Math.floor(Math.random() * 10) },
        })),
      );
    }
  };
  await Promise.all(Array.from({ length: writers }, work));
}
