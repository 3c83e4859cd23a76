import type { SqlExecutor } from './drivers/driver.js';

/** What the store can tell about the database server's health, beyond its own tables. */
export interface StoreHealth {
  /**
   * Age in seconds of the oldest transaction open on the database server that holds back the xmin horizon (it
   * has an xid or a snapshot), prepared transactions included; 0 when there is none. While it stays open, every
   * log reader of every schema on the server waits behind it (readers never skip an event whose transaction might
   * still commit), and vacuum cannot clean up. Rows of other roles' sessions are visible only to superusers and
   * members of `pg_read_all_stats`; without that role the figure covers this role's own sessions and prepared
   * transactions. Always 0 on the embedded store, which has one connection.
   */
  oldestTransactionAgeSeconds: number;
}

export async function readStoreHealth(executor: SqlExecutor, kind: 'pg' | 'pglite'): Promise<StoreHealth> {
  if (kind === 'pglite') return { oldestTransactionAgeSeconds: 0 };
  const [row] = await executor.query<{ seconds: number | null }>(
    `select greatest(0, extract(epoch from max(age)))::float8 as seconds from (
       select clock_timestamp() - xact_start as age from pg_stat_activity
        where xact_start is not null and pid <> pg_backend_pid()
          and (backend_xid is not null or backend_xmin is not null)
       union all
       select clock_timestamp() - prepared from pg_prepared_xacts) t`,
  );
  return { oldestTransactionAgeSeconds: row?.seconds ?? 0 };
}
