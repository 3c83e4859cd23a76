import type { EventStoreOptions } from '../options.js';
import { DEFAULT_STATEMENT_TIMEOUT_MS } from '../options.js';
import type { Driver } from './driver.js';
import { createPgPool, pgClientDriver, pgPoolDriver, redactUrl } from './pg.js';
import { openPglite, pgliteDriver } from './pglite.js';

/** The driver for a store's options: a pool for `url`, the caller's pool, client or PGlite, or embedded PGlite. */
export async function openDriver(options: EventStoreOptions): Promise<Driver> {
  const prepare = options.preparedStatements ?? true;
  if (options.url !== undefined) {
    const pool = createPgPool(options.url, {
      max: options.poolSize ?? 10,
      statementTimeoutMs: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
    });
    return pgPoolDriver(pool, redactUrl(options.url), true, prepare);
  }
  if (options.pool !== undefined) return pgPoolDriver(options.pool, 'the caller’s pool', false, prepare);
  if (options.client !== undefined) return pgClientDriver(options.client, 'the caller’s client', prepare);
  if (options.pglite !== undefined) return pgliteDriver(options.pglite, false);
  return pgliteDriver(await openPglite(options.dataDir), true);
}
