// Server-sent events for the dashboard: the overview every interval, and optionally a live tail of the log.
// Served under /api/, so the same bearer token guards it (the dashboard reads it with fetch, which can send the
// Authorization header; EventSource cannot).

import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { describeValue, InvalidArgumentError, isEventlaneError } from '../../errors.js';
import { redactText } from '../../redact.js';
import type { EventStore } from '../../store/event-store.js';
import { eventJson } from '../browse.js';
import { readOverview } from '../inventory.js';

/** Bounds of `?interval=` in milliseconds. */
export const LIVE_INTERVAL = { min: 500, default: 2000, max: 60_000 } as const;
/** Events sent per tick of a live tail at most; the rest follow on the next ticks. */
const TAIL_PAGE = 200;

function parseInterval(value: string | undefined): number {
  if (value === undefined || value === '') return LIVE_INTERVAL.default;
  const n = /^\d{1,6}$/.test(value) ? Number(value) : NaN;
  if (!(n >= LIVE_INTERVAL.min && n <= LIVE_INTERVAL.max)) {
    throw new InvalidArgumentError(
      `interval must be a whole number of milliseconds from ${LIVE_INTERVAL.min} to ${LIVE_INTERVAL.max}, got ${describeValue(value)}.`,
    );
  }
  return n;
}

const problem = (error: unknown) =>
  isEventlaneError(error)
    ? { code: error.code, message: redactText(error.message) }
    : { code: 'EVENTLANE_INTERNAL', message: 'Reading the store failed; the server log has the details.' };

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any hono app, whatever its variables
export function mountLive(app: Hono<any>, store: EventStore, onError: (error: unknown) => void): void {
  app.get('/api/live', async (c: Context) => {
    const interval = parseInterval(c.req.query('interval'));
    const tail = c.req.query('tail');
    let after: string | undefined;
    if (tail === 'head') after = (await store.head()).checkpoint;
    else if (tail !== undefined && tail !== '') {
      await store.readLog({ after: tail, limit: 1 }); // a bad checkpoint is a 400 before the stream starts
      after = tail;
    }
    return streamSSE(c, async (stream) => {
      let id = 0;
      while (!stream.aborted && !stream.closed) {
        try {
          const overview = await readOverview(store);
          await stream.writeSSE({ event: 'overview', id: String(++id), data: JSON.stringify(overview) });
          if (after !== undefined) {
            const page = await store.readLog({ after, limit: TAIL_PAGE });
            if (page.events.length > 0) {
              after = page.checkpoint;
              const data = { events: page.events.map(eventJson), checkpoint: after };
              await stream.writeSSE({ event: 'log', id: String(++id), data: JSON.stringify(data) });
            }
          }
        } catch (error) {
          if (!isEventlaneError(error)) onError(error);
          await stream.writeSSE({ event: 'problem', data: JSON.stringify(problem(error)) });
        }
        await stream.sleep(interval);
      }
    });
  });
}
