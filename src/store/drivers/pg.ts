import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Driver, QueryOptions, SqlExecutor } from './driver.js';
import { connectionErrorOrSelf } from './errors.js';
import { InvalidArgumentError } from '../../errors.js';
import { redactText, redactUrl } from '../../redact.js';

export { redactUrl };

type Queryable = Pick<pg.ClientBase, 'query'>;

/**
 * Prepared statements are named by a hash of their text, so that every connection of every pool agrees on the
 * name of a text without coordination. The texts eventlane prepares are a small fixed set per schema; past
 * MAX_PREPARED_TEXTS distinct ones (many schemas in one process) further texts go unprepared rather than letting
 * each connection's statement cache grow without bound.
 */
const MAX_PREPARED_TEXTS = 2000;
const statementNames = new Map<string, string>();

function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_PREPARED_TEXTS) {
    name = `eventlane_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return name;
}

/** `prepare`: whether `{ prepare: true }` may name statements on this connection (never on a caller's own). */
function executorOf(client: Queryable, where: string, prepare = false): SqlExecutor {
  return {
    async query<R extends object>(
      text: string,
      params?: readonly unknown[],
      options?: QueryOptions,
    ): Promise<R[]> {
      try {
        const name = prepare && options?.prepare === true ? statementName(text) : undefined;
        const result =
          name === undefined
            ? await client.query<R>(text, params as unknown[] | undefined)
            : await client.query<R>({ name, text, values: params as unknown[] | undefined });
        return result.rows;
      } catch (error) {
        throw connectionErrorOrSelf(error, where);
      }
    },
    async exec(script: string): Promise<void> {
      try {
        await client.query(script);
      } catch (error) {
        throw connectionErrorOrSelf(error, where);
      }
    },
  };
}

async function runTransaction<T>(
  client: Queryable,
  where: string,
  prepare: boolean,
  fn: (ex: SqlExecutor) => Promise<T>,
): Promise<T> {
  const executor = executorOf(client, where, prepare);
  await executor.query('begin');
  try {
    const result = await fn(executor);
    await executor.query('commit');
    return result;
  } catch (error) {
    try {
      await client.query('rollback');
    } catch {
      // The connection is gone; PostgreSQL rolls back on its own. The original error is the one to report.
    }
    throw error;
  }
}

const RELISTEN_DELAY_MS = 1000;

/**
 * LISTEN on a connection of its own, opened with the pool's settings and kept out of the pool (a listening
 * connection cannot be shared). When it breaks, it reconnects after a second until stopped; meanwhile callers rely on
 * their polling fallback.
 */
async function listenOnDedicatedClient(
  pool: pg.Pool,
  where: string,
  channel: string,
  onNotify: (payload: string) => void,
): Promise<() => Promise<void>> {
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const open = async (): Promise<void> => {
    const c = new pg.Client(pool.options);
    c.on('notification', (n) => {
      if (n.channel === channel) onNotify(n.payload ?? '');
    });
    c.on('error', () => {
      // The connection broke: drop it and reconnect later; notifications are hints, polling covers the gap.
      if (client === c) client = undefined;
      c.end().catch(() => undefined);
      schedule();
    });
    await c.connect();
    await c.query(`listen ${quoteChannel(channel)}`);
    if (stopped) {
      await c.end();
      return;
    }
    client = c;
  };
  const schedule = (): void => {
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      open().catch(() => schedule());
    }, RELISTEN_DELAY_MS);
    retry.unref();
  };
  try {
    await open();
  } catch (error) {
    throw connectionErrorOrSelf(error, where);
  }
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    const c = client;
    client = undefined;
    await c?.end().catch(() => undefined);
  };
}

function quoteChannel(channel: string): string {
  return `"${channel.replace(/"/g, '""')}"`;
}

/** A driver on a pool; `owned` pools are ended by `close()`. */
export function pgPoolDriver(pool: pg.Pool, where: string, owned: boolean, prepare: boolean): Driver {
  const executor = executorOf(pool, where, prepare);
  return {
    kind: 'pg',
    query: executor.query,
    exec: executor.exec,
    async transaction(fn) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw connectionErrorOrSelf(error, where);
      }
      let broken: Error | undefined;
      try {
        return await runTransaction(client, where, prepare, fn);
      } catch (error) {
        if ((error as { code?: string }).code === 'EVENTLANE_CONNECTION') broken = error as Error;
        throw error;
      } finally {
        client.release(broken);
      }
    },
    listen: (channel, onNotify) => listenOnDedicatedClient(pool, where, channel, onNotify),
    async close() {
      if (owned) await pool.end();
    },
  };
}

/**
 * A driver on one client the caller owns. Transactions on a single connection cannot overlap, so they are
 * queued here; plain queries outside a transaction wait for the running one too.
 */
export function pgClientDriver(client: pg.Client, where: string, prepare: boolean): Driver {
  const executor = executorOf(client, where, prepare);
  let tail: Promise<unknown> = Promise.resolve();
  function serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  }
  return {
    kind: 'pg',
    query: (text, params, options) => serialize(() => executor.query(text, params, options)),
    exec: (script) => serialize(() => executor.exec(script)),
    transaction: (fn) => serialize(() => runTransaction(client, where, prepare, fn)),
    async listen(channel, onNotify) {
      // The caller's single client: LISTEN on it; notifications arrive between its queries.
      const handler = (n: pg.Notification): void => {
        if (n.channel === channel) onNotify(n.payload ?? '');
      };
      client.on('notification', handler);
      await serialize(() => executor.query(`listen ${quoteChannel(channel)}`));
      return async () => {
        client.off('notification', handler);
        await serialize(() => executor.query(`unlisten ${quoteChannel(channel)}`)).catch(() => undefined);
      };
    },
    async close() {
      await tail;
    },
  };
}

/**
 * Parses `url` as the driver will, so that a malformed connection string fails at once with a typed error
 * rather than later inside a migration; the message carries the URL without its secrets.
 */
export function checkPgUrl(url: string): void {
  try {
    // Constructing a client parses the connection string (and reads any ssl files it names); it does not connect.
    new pg.Client({ connectionString: url });
  } catch (error) {
    throw new InvalidArgumentError(
      `url ${JSON.stringify(redactUrl(url))} is not a connection string the PostgreSQL driver can read ` +
        `(${redactText(error instanceof Error ? error.message : String(error))}). ` +
        'Use postgres://user:password@host:5432/database, with special characters in the password percent-encoded.',
    );
  }
}

/** A pool for `url`; a URL the driver cannot parse is refused here, before any connection or migration. */
export function createPgPool(url: string, options: { max: number; statementTimeoutMs: number }): pg.Pool {
  checkPgUrl(url);
  return new pg.Pool({
    connectionString: url,
    max: options.max,
    connectionTimeoutMillis: 10_000,
    // Without keepalive a connection whose peer vanished (failover, NAT timeout) hangs until the OS gives up.
    keepAlive: true,
    // Sent as a startup parameter, so it holds for every connection of the pool, the LISTEN one included.
    statement_timeout: options.statementTimeoutMs,
  });
}

/** An executor bound to a pg client that is already inside the caller's own transaction. */
export function pgClientExecutor(client: Queryable): SqlExecutor {
  return executorOf(client, 'the caller’s connection');
}
