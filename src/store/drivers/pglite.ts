import type { PGlite, Transaction } from '@electric-sql/pglite';
import type { Driver, SqlExecutor } from './driver.js';

type PgliteQueryable = Pick<PGlite | Transaction, 'query' | 'exec'>;

function executorOf(db: PgliteQueryable): SqlExecutor {
  return {
    async query<R extends object>(text: string, params?: readonly unknown[]): Promise<R[]> {
      const result = await db.query<R>(text, params as unknown[] | undefined);
      return result.rows;
    },
    async exec(script: string): Promise<void> {
      await db.exec(script);
    },
  };
}

/** A driver on a PGlite instance; `owned` instances are closed by `close()`. */
export function pgliteDriver(db: PGlite, owned: boolean): Driver {
  const executor = executorOf(db);
  return {
    kind: 'pglite',
    query: executor.query,
    exec: executor.exec,
    transaction: (fn) => db.transaction((tx) => fn(executorOf(tx))),
    async listen(channel, onNotify) {
      const unlisten = await db.listen(channel, onNotify);
      return async () => {
        if (!db.closed) await unlisten();
      };
    },
    async close() {
      if (owned && !db.closed) await db.close();
    },
  };
}

export async function openPglite(dataDir: string | undefined): Promise<PGlite> {
  const { PGlite } = await import('@electric-sql/pglite');
  return PGlite.create(dataDir);
}

/** An executor bound to a PGlite transaction the caller opened. */
export function pgliteTransactionExecutor(tx: PgliteQueryable): SqlExecutor {
  return executorOf(tx);
}
