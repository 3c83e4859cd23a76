// The replay jobs of the admin API: list, show, plan, start, pause, resume, cancel and a new rate. Jobs started or
// resumed here run in this process, on the engine given to the handler (or one built from its `consumers`).
// Every action is written to the audit log; input is checked by the engine itself, so its typed errors reach the
// client unchanged.

import type { Context, Hono } from 'hono';
import { describeValue, InvalidArgumentError } from '../../errors.js';
import type { EventStore } from '../../store/event-store.js';
import type { Replay } from '../../replay/replay.js';
import type { ReplayJob, ReplayState, StartOptions } from '../../replay/types.js';
import { audited } from '../audit.js';
import { parseLimit, parseStatuses } from '../input.js';

type Env = { Variables: { actor: string } };
type Body = (c: Context<Env>) => Promise<Record<string, unknown>>;

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T/;

/**
 * JSON has no dates: a bound that reads as an ISO time becomes a Date; anything else goes to the engine as it is,
 * which accepts a checkpoint and refuses the rest with EVENTLANE_REPLAY_RANGE.
 */
function bound(value: unknown): unknown {
  if (typeof value === 'string' && value.length <= 40 && ISO_TIME.test(value)) {
    const time = new Date(value);
    if (!Number.isNaN(time.getTime())) return time;
  }
  return value;
}

/** The body of a plan or start as the engine's options; `detached` and `previewToken` only for a start. */
function jobOptions(b: Record<string, unknown>, start: boolean): StartOptions {
  const known = [
    'kind',
    'consumer',
    'from',
    'to',
    'follow',
    'types',
    'streamPrefix',
    'reprocess',
    'maxEventsPerSecond',
    'concurrency',
    'adaptive',
    'allowEffects',
    ...(start ? ['previewToken', 'detached'] : []),
  ];
  const unknown = Object.keys(b).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `Unknown option ${describeValue(unknown[0])} for a replay ${start ? 'start' : 'plan'}; known: ${known.join(', ')}.`,
    );
  }
  const o: Record<string, unknown> = { ...b };
  if (b.from !== undefined) o.from = bound(b.from);
  if (b.to !== undefined) o.to = bound(b.to);
  if (b.detached !== undefined && typeof b.detached !== 'boolean') {
    throw new InvalidArgumentError(`detached must be true or false, got ${describeValue(b.detached)}.`);
  }
  return o as unknown as StartOptions;
}

/** What the audit log keeps of a job's options: everything but the token. */
function auditDetails(o: StartOptions): Record<string, unknown> {
  const { previewToken: _token, ...rest } = o;
  return { ...rest, previewed: _token !== undefined };
}

export function mountReplay(app: Hono<Env>, store: EventStore, replay: Replay, body: Body): void {
  const act = (
    c: Context<Env>,
    action: string,
    target: string,
    details: Record<string, unknown>,
    run: () => Promise<ReplayJob>,
  ) => audited(store, { actor: c.get('actor'), action, target, details }, run);

  app.get('/api/replay', async (c) =>
    c.json(
      await replay.list({
        states: parseStatuses<ReplayState>(c.req.query('state')),
        limit: parseLimit(c.req.query('limit'), 100, 10_000),
      }),
    ),
  );
  app.post('/api/replay/plan', async (c) => c.json(await replay.plan(jobOptions(await body(c), false))));
  app.post('/api/replay/start', async (c) => {
    const options = jobOptions(await body(c), true);
    const job = await act(
      c,
      'replay.start',
      `consumer:${String(options.consumer).slice(0, 200)}`,
      auditDetails(options),
      () => replay.start(options),
    );
    return c.json(job);
  });
  app.get('/api/replay/:id', async (c) => c.json(await replay.get(c.req.param('id'))));
  const target = (c: Context<Env>) => `replay:${c.req.param('id') ?? ''}`;
  app.post('/api/replay/:id/pause', async (c) =>
    c.json(await act(c, 'replay.pause', target(c), {}, () => replay.pause(c.req.param('id')))),
  );
  app.post('/api/replay/:id/cancel', async (c) =>
    c.json(await act(c, 'replay.cancel', target(c), {}, () => replay.cancel(c.req.param('id')))),
  );
  app.post('/api/replay/:id/resume', async (c) => {
    const { takeOver } = await body(c);
    if (takeOver !== undefined && typeof takeOver !== 'boolean') {
      throw new InvalidArgumentError(`takeOver must be true or false, got ${describeValue(takeOver)}.`);
    }
    return c.json(
      await act(c, 'replay.resume', target(c), { takeOver: takeOver === true }, () =>
        replay.resume(c.req.param('id'), { takeOver: takeOver === true }),
      ),
    );
  });
  app.post('/api/replay/:id/rate', async (c) => {
    const b = await body(c);
    if (!('maxEventsPerSecond' in b)) {
      throw new InvalidArgumentError(
        'Send {"maxEventsPerSecond": <events per second>}, or null to lift the limit.',
      );
    }
    const rate = b.maxEventsPerSecond as number | null;
    return c.json(
      await act(c, 'replay.rate', target(c), { maxEventsPerSecond: rate }, () =>
        replay.setRate(c.req.param('id'), rate),
      ),
    );
  });
}
