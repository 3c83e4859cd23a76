import { getRequestListener } from '@hono/node-server';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { describeValue, InvalidConfigError } from '../../errors.js';
import type { AnyEventContract, ConsumerLike } from '../../contracts/types.js';
import type { EventStore } from '../../store/event-store.js';
import type { ConsumerDefinition } from '../../consumers/define.js';
import { createReplay, type Replay } from '../../replay/replay.js';
import { processRegistry, registerDatabaseMetrics } from '../metrics.js';
import { buildApp } from './app.js';
import { tokenChecker, type AdminTokens } from './auth.js';

export interface OpsHandlerOptions {
  store: EventStore;
  /** The admin token, or tokens by holder name (the holder is recorded in the audit log). Required. */
  token: AdminTokens;
  /**
   * Let GET requests under /api/ through without a token. Actions always need one, and a wrong token is refused
   * even on reads. @defaultValue false
   */
  openReads?: boolean;
  /** Show parked events' data and metadata as `"[redacted]"`. @defaultValue false */
  redactEventData?: boolean;
  /**
   * The live registries served at /metrics beside the database-read series: the one your workers, relays and
   * projections report into. @defaultValue [processRegistry()] (prom-client's default registry)
   */
  registries?: readonly Registry[];
  /** Add the `eventlane_db_*` series read from the store at scrape time. @defaultValue true */
  databaseMetrics?: boolean;
  /**
   * Report the store's appends (`eventlane_store_*`: calls by result, events written, duration) into the first of
   * `registries`, so that /metrics shows what this process appends. Costs two clock reads and three counter
   * updates per append call. @defaultValue true
   */
  storeMetrics?: boolean;
  /**
   * Projections and reactors (as in the config's `consumers`, built with defineProjection / defineReactor): the
   * dashboard's contracts view names the consumers of each event type, and replay jobs started through the API may
   * target them. @defaultValue []
   */
  consumers?: readonly ConsumerLike[];
  /** The event contracts the dashboard shows. @defaultValue the store's own (`openStore({ events })`) */
  contracts?: readonly AnyEventContract[];
  /**
   * The replay engine whose jobs /api/replay plans, starts and controls (jobs started or resumed there run in this
   * process). @defaultValue `createReplay(store, { consumers })`, stopped by `close()`
   */
  replay?: Replay;
  /** Called with errors that became a 500 response. @defaultValue ignore */
  onError?: (error: unknown) => void;
}

export interface OpsHandler {
  /** A fetch handler (`Request` → `Response`) for hono, Bun, Deno or any fetch-based server. */
  fetch(request: Request): Promise<Response>;
  /** A Node request listener for `http.createServer`, Express (`app.use('/ops', handler.listener)`) or Fastify. */
  listener(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /**
   * Removes the store from the shared oldest-transaction gauge and, when the handler built its own replay engine,
   * stops the jobs running in it after their pages (they are left paused). The store stays open.
   */
  close(): Promise<void>;
}

/**
 * The admin API, metrics and health endpoints as one handler to mount in your own server, or to run with
 * `startOpsServer` / `eventlane serve`.
 *
 * @example
 * const ops = createOpsHandler({ store, token: process.env.EVENTLANE_ADMIN_TOKEN! });
 * http.createServer(ops.listener).listen(9464, '127.0.0.1');
 */
export function createOpsHandler(options: OpsHandlerOptions): OpsHandler {
  if (typeof options !== 'object' || options === null || typeof options.store !== 'object') {
    throw new InvalidConfigError(`createOpsHandler takes { store, token }, got ${describeValue(options)}.`);
  }
  const authenticate = tokenChecker(options.token);
  const live = options.registries ?? [processRegistry()];
  if (options.storeMetrics !== false && live[0] !== undefined) options.store.registerMetrics(live[0]);
  const db =
    options.databaseMetrics === false
      ? undefined
      : registerDatabaseMetrics(options.store, { processRegistry: live[0] });
  const ownReplay = options.replay === undefined;
  const replay =
    options.replay ??
    createReplay(options.store, {
      consumers: (options.consumers ?? []) as readonly ConsumerDefinition[],
      onError: (error) => options.onError?.(error),
    });
  const app = buildApp({
    store: options.store,
    authenticate,
    openReads: options.openReads === true,
    redactEventData: options.redactEventData === true,
    registries: db === undefined ? live : [...live, db.registry],
    onError: options.onError ?? (() => undefined),
    consumers: options.consumers ?? [],
    contracts: options.contracts,
    replay,
  });
  const fetch = (request: Request) => Promise.resolve(app.fetch(request));
  return {
    fetch,
    listener: getRequestListener(fetch),
    close: async () => {
      db?.stop();
      if (ownReplay) await replay.stop();
    },
  };
}
