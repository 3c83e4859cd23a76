// The admin HTTP API as a hono app: /metrics, /healthz, /readyz and the JSON API under /api/. `createOpsHandler`
// (handler.ts) wraps it for `eventlane serve` and for users who mount it in their own server.

import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Registry } from 'prom-client';
import { ErrorCodes, InvalidArgumentError, NotFoundError, UnauthorizedError } from '../../errors.js';
import { MAX_READ_LOG_LIMIT, MAX_READ_STREAM_LIMIT } from '../../store/read.js';
import type { EventStore } from '../../store/event-store.js';
import type { AnyEventContract, ConsumerLike } from '../../contracts/types.js';
import { listAudit } from '../audit.js';
import { listContracts } from '../contracts.js';
import { listPartitions } from '../partitions.js';
import { eventJson, findEvent, findEvents, findStreams, MAX_BROWSE_LIMIT } from '../browse.js';
import {
  parseEventId,
  parseIds,
  parseLimit,
  parsePosition,
  parseStatuses,
  parseText,
  parseTime,
} from '../input.js';
import { listConsumers, listProjections, listRelays, readOverview } from '../inventory.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from '../metrics.js';
import {
  bulkParked,
  listParked,
  listRelayParked,
  retryParked,
  retryProjection,
  retryRelayParked,
  showParked,
  skipParked,
  skipProjection,
  skipRelayParked,
  type DisplayOptions,
} from '../parked.js';
import { errorResponse, jsonError } from './errors.js';
import { mountDashboard } from './dashboard.js';
import { mountLive } from './live.js';
import { openApiDocument } from './openapi.js';
import { mountReplay } from './replay.js';
import { createReplay, type Replay } from '../../replay/replay.js';

export interface AppSettings extends DisplayOptions {
  store: EventStore;
  /** Returns the holder of the token in an Authorization header, or undefined. */
  authenticate: (authorization: string | undefined) => string | undefined;
  openReads: boolean;
  registries: readonly Registry[];
  onError: (error: unknown) => void;
  /** Projections and reactors, to name the consumers of each contract. */
  consumers?: readonly ConsumerLike[];
  /** The declared contracts, when not the store's own. */
  contracts?: readonly AnyEventContract[];
  /** The engine of the replay routes. @defaultValue an engine with no consumers */
  replay?: Replay;
}

type Env = { Variables: { actor: string } };

/** Largest JSON body the API reads (a bulk list of ids fits easily). */
const MAX_BODY_BYTES = 64 * 1024;

async function body(c: Context<Env>): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError(
      'The request body is not valid JSON; send an object such as {"reason": "…"}.',
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError('The request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}

/** The status filter and page size of a parked list. */
function listing<T extends string>(c: Context<Env>): { status: T[] | undefined; limit: number } {
  return {
    status: parseStatuses<T>(c.req.query('status')),
    limit: parseLimit(c.req.query('limit'), 100, 10_000),
  };
}

export function buildApp(s: AppSettings): Hono<Env> {
  const app = new Hono<Env>();
  const { store } = s;
  app.onError((error) => {
    const response = errorResponse(error);
    if (response.status >= 500) s.onError(error);
    return response;
  });
  app.notFound((c) => errorResponse(new NotFoundError(`No route ${c.req.method} ${c.req.path}.`)));

  // Authentication runs before any routing of /api/: a request without the right token learns nothing, not even
  // whether its path exists.
  app.use('/api/*', async (c, next) => {
    const holder = s.authenticate(c.req.header('authorization'));
    const read = c.req.method === 'GET' || c.req.method === 'HEAD';
    const presented = c.req.header('authorization') !== undefined;
    if (holder === undefined && !(read && s.openReads && !presented)) {
      return errorResponse(new UnauthorizedError());
    }
    c.set('actor', holder ?? 'anonymous');
    await next();
    return undefined;
  });
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () =>
        jsonError(
          413,
          ErrorCodes.INVALID_ARGUMENT,
          `The request body is larger than ${MAX_BODY_BYTES} bytes.`,
        ),
    }),
  );

  mountDashboard(app);
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', async (c) => {
    await store.head();
    return c.json({ ok: true });
  });
  app.get('/metrics', async (c) => {
    c.header('content-type', METRICS_CONTENT_TYPE);
    return c.body(await renderMetrics(s.registries));
  });

  app.get('/api/openapi.json', (c) => c.json(openApiDocument()));
  app.get('/api/overview', async (c) => c.json(await readOverview(store)));
  app.get('/api/relays', async (c) => c.json(await listRelays(store)));
  app.get('/api/consumers', async (c) => c.json(await listConsumers(store)));
  app.get('/api/consumers/:name', async (c) => c.json((await listConsumers(store, c.req.param('name')))[0]));
  app.get('/api/consumers/:name/partitions', async (c) =>
    c.json(await listPartitions(store, c.req.param('name'))),
  );
  app.get('/api/projections', async (c) => c.json(await listProjections(store)));
  app.get('/api/projections/:name', async (c) => c.json(await listProjections(store, c.req.param('name'))));
  // Retry and skip of one target (`:name` or `:id` in the path), each audited with the token's holder.
  const actions = (
    path: string,
    param: 'name' | 'id',
    retry: (key: string, actor: string) => Promise<unknown>,
    skip: (key: string, actor: string, reason: string | undefined) => Promise<unknown>,
  ): void => {
    const key = (c: Context<Env>) => c.req.param(param) ?? '';
    app.post(`${path}/:${param}/retry`, async (c) => c.json(await retry(key(c), c.get('actor'))));
    app.post(`${path}/:${param}/skip`, async (c) => {
      const reason = parseText((await body(c)).reason, 'reason');
      return c.json(await skip(key(c), c.get('actor'), reason));
    });
  };
  actions(
    '/api/projections',
    'name',
    (name, actor) => retryProjection(store, name, actor),
    (name, actor, reason) => skipProjection(store, name, actor, reason),
  );

  app.get('/api/parked', async (c) =>
    c.json(
      await listParked(store, {
        consumer: parseText(c.req.query('consumer'), 'consumer', 200),
        ...listing(c),
      }),
    ),
  );
  const bulk = (action: 'retry' | 'skip') => async (c: Context<Env>) => {
    const b = await body(c);
    const consumer = parseText(b.consumer, 'consumer', 200);
    const ids = parseIds(b.ids);
    if (consumer === undefined && ids === undefined) {
      throw new InvalidArgumentError(`A bulk ${action} needs "consumer" (all its parked events) or "ids".`);
    }
    const reason = parseText(b.reason, 'reason');
    return c.json(await bulkParked(store, action, { consumer, ids }, c.get('actor'), reason));
  };
  app.post('/api/parked/retry', bulk('retry'));
  app.post('/api/parked/skip', bulk('skip'));
  app.get('/api/parked/:id', async (c) => c.json(await showParked(store, c.req.param('id'), s)));
  actions(
    '/api/parked',
    'id',
    (id, actor) => retryParked(store, id, actor),
    (id, actor, reason) => skipParked(store, id, actor, reason),
  );

  app.get('/api/relay-parked', async (c) =>
    c.json(
      await listRelayParked(store, {
        relay: parseText(c.req.query('relay'), 'relay', 200),
        ...listing(c),
      }),
    ),
  );
  actions(
    '/api/relay-parked',
    'id',
    (id, actor) => retryRelayParked(store, id, actor),
    (id, actor, reason) => skipRelayParked(store, id, actor, reason),
  );

  app.get('/api/streams', async (c) =>
    c.json(
      await findStreams(store, {
        prefix: parseText(c.req.query('prefix'), 'prefix', 2000),
        limit: parseLimit(c.req.query('limit'), 100, MAX_BROWSE_LIMIT),
      }),
    ),
  );
  app.get('/api/streams/:stream{.+}', async (c) => {
    const direction = c.req.query('direction');
    const events = await store.readStream(c.req.param('stream'), {
      from: parsePosition(c.req.query('from'), 'from'),
      limit: parseLimit(c.req.query('limit'), 100, MAX_READ_STREAM_LIMIT),
      direction: direction as 'forward' | 'backward' | undefined,
    });
    return c.json(events.map(eventJson));
  });
  app.get('/api/events', async (c) => {
    const events = await findEvents(store, {
      type: parseText(c.req.query('type'), 'type', 200),
      from: parseTime(c.req.query('from'), 'from'),
      to: parseTime(c.req.query('to'), 'to'),
      limit: parseLimit(c.req.query('limit'), 100, MAX_BROWSE_LIMIT),
    });
    return c.json(events.map(eventJson));
  });
  app.get('/api/events/:id', async (c) =>
    c.json(eventJson(await findEvent(store, parseEventId(c.req.param('id'))))),
  );
  app.get('/api/log', async (c) => {
    const page = await store.readLog({
      after: c.req.query('after') || undefined,
      limit: parseLimit(c.req.query('limit'), 100, MAX_READ_LOG_LIMIT),
    });
    return c.json({ events: page.events.map(eventJson), checkpoint: page.checkpoint });
  });
  app.get('/api/contracts', (c) => c.json(listContracts(store, s)));
  mountLive(app, store, s.onError);
  mountReplay(app, store, s.replay ?? createReplay(store, { consumers: [] }), body);
  app.get('/api/audit', async (c) =>
    c.json(await listAudit(store, { limit: parseLimit(c.req.query('limit'), 100, MAX_BROWSE_LIMIT) })),
  );
  return app;
}
