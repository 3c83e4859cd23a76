/** How one statement is sent. */
export interface QueryOptions {
  /**
   * Send it as a named prepared statement: PostgreSQL parses and plans it once per connection, later calls send
   * only the parameters. For the hot statements of a fixed text (append, stream reads); executors that cannot
   * prepare (PGlite, an ORM's connection) ignore it.
   */
  readonly prepare?: boolean;
}

/** The one-method database port every eventlane component writes through. */
export interface SqlExecutor {
  query: <R extends object = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ) => Promise<R[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec: (script: string) => Promise<void>;
}

/** A connection to PostgreSQL or PGlite that can also open transactions and listen for notifications. */
export interface Driver extends SqlExecutor {
  readonly kind: 'pg' | 'pglite';
  /** Runs `fn` in one transaction on one connection; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (executor: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Listens for NOTIFY on `channel` and calls `onNotify` with each payload until the returned function is called.
   * PostgreSQL needs a connection that stays checked out for this, so the pool driver opens a dedicated one
   * (reconnecting in the background when it breaks); callers poll as well and treat notifications as hints.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** Releases what the driver opened itself; connections the caller handed in stay open. */
  close(): Promise<void>;
}
