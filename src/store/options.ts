/** The options of createEventStore: what they mean, their defaults, and the checks they must pass. */

import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';
import { checkDuration } from '../bus/options.js';
import type { UndeclaredEventsPolicy } from '../contracts/registry.js';
import type { AnyEventContract } from '../contracts/types.js';
import { describeValue, InvalidArgumentError } from '../errors.js';
import { redactUrl } from './drivers/pg.js';

export interface EventStoreOptions {
  /**
   * A PostgreSQL connection string. Leave out `url`, `pool`, `client` and `pglite` for the embedded store
   * (PGlite: PostgreSQL compiled to WebAssembly, in this process).
   */
  url?: string;
  /** A `pg` pool the caller owns; `close()` leaves it open. */
  pool?: pg.Pool;
  /** A `pg` client the caller owns and has connected; transactions on it are queued. `close()` leaves it open. */
  client?: pg.Client;
  /** A PGlite instance the caller owns; `close()` leaves it open. */
  pglite?: PGlite;
  /**
   * Embedded store only: the directory PGlite keeps its files in, e.g. `./.eventlane`.
   * @defaultValue in memory (nothing survives the process)
   */
  dataDir?: string;
  /** The PostgreSQL schema holding eventlane's tables. @defaultValue 'eventlane' */
  schema?: string;
  /** Largest serialized `data` plus `metadata` of one event, in bytes. @defaultValue 1 MiB */
  maxEventBytes?: number;
  /**
   * Largest serialized `data` plus `metadata` of all events of one append call, in bytes (one call also takes at
   * most 100,000 events). Bounds the memory and the statement one call builds; split larger imports into several
   * appends, in one `store.transaction` when they must be atomic. @defaultValue 64 MiB
   */
  maxAppendBytes?: number;
  /**
   * With `url`: PostgreSQL's `statement_timeout` for the pool's connections, in ms; 0 turns it off. A statement
   * running longer is cancelled and fails with a StatementTimeoutError (EVENTLANE_STATEMENT_TIMEOUT) instead of
   * holding a connection (and possibly the log's xmin horizon) for good. It limits each statement, not a
   * transaction: long rebuilds made of many statements are unaffected, and migrations (with their lock wait)
   * run without it. Connections also use TCP keepalive, so a silently dropped connection is noticed.
   * @defaultValue 60000
   */
  statementTimeoutMs?: number;
  /** Connections in the pool eventlane opens for `url`. @defaultValue 10 */
  poolSize?: number;
  /**
   * Send the hot statements (append, stream reads) as named prepared statements, parsed and planned once per
   * connection. Turn off behind a connection pooler that cannot keep prepared statements across transactions
   * (PgBouncer in transaction mode before 1.21, or without `max_prepared_statements`). Statements on a connection
   * you enlist (`store.enlist`) are never prepared. @defaultValue true (PostgreSQL; PGlite has nothing to save)
   */
  preparedStatements?: boolean;
  /**
   * Apply pending migrations when the store is created. Turn off where a deploy step runs `store.migrate()`.
   * @defaultValue true
   */
  migrate?: boolean;
  /**
   * Event contracts (defineEvent). Appended events of these types are validated against their version's schema
   * before anything is written; reads return them upcast to the current version.
   * @defaultValue none: no validation, no upcasting, and no cost on the append path
   */
  events?: readonly AnyEventContract[];
  /**
   * With `events`: what to do with an event whose type no contract declares. `'reject'` catches typos and
   * unreviewed types; `'allow'` stores them untyped, for a gradual adoption.
   * @defaultValue 'reject'
   */
  undeclaredEvents?: UndeclaredEventsPolicy;
  /**
   * Where this host finds the archive segments (`eventlane archive --to <dir>`). Reads that start before the first
   * event left in the events table read through the segments there.
   * @defaultValue the directory the last archive run recorded in the database
   */
  archive?: { dir: string };
}

const OPTION_KEYS = new Set([
  'url',
  'pool',
  'client',
  'pglite',
  'dataDir',
  'schema',
  'maxEventBytes',
  'maxAppendBytes',
  'statementTimeoutMs',
  'poolSize',
  'preparedStatements',
  'migrate',
  'events',
  'undeclaredEvents',
  'archive',
]);
export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;
export const DEFAULT_MAX_APPEND_BYTES = 64 * 1024 * 1024;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 60_000;

export function checkEventStoreOptions(options: EventStoreOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(
      `createEventStore takes an options object, got ${options === null ? 'null' : typeof options}.`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw new InvalidArgumentError(
        `Unknown option ${JSON.stringify(key)} for createEventStore. Known options: ${[...OPTION_KEYS].join(', ')}.`,
        { option: key },
      );
    }
  }
  const sources = (['url', 'pool', 'client', 'pglite'] as const).filter((k) => options[k] !== undefined);
  if (sources.length > 1) {
    throw new InvalidArgumentError(
      `Give createEventStore one of url, pool, client or pglite, not ${sources.join(' and ')}.`,
    );
  }
  if (options.url !== undefined) {
    if (typeof options.url !== 'string' || !/^postgres(ql)?:\/\//.test(options.url)) {
      throw new InvalidArgumentError(
        `url must be a PostgreSQL connection string such as postgres://user@127.0.0.1:5432/db, got ${
          typeof options.url === 'string' ? JSON.stringify(redactUrl(options.url)) : typeof options.url
        }.`,
      );
    }
  }
  if (options.dataDir !== undefined && (sources.length > 0 || typeof options.dataDir !== 'string')) {
    throw new InvalidArgumentError('dataDir is for the embedded store only, and must be a directory path.');
  }
  const max = options.maxEventBytes;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) {
    throw new InvalidArgumentError(`maxEventBytes must be a whole number of bytes ≥ 1, got ${String(max)}.`);
  }
  const total = options.maxAppendBytes;
  if (total !== undefined && (!Number.isSafeInteger(total) || total < 1)) {
    throw new InvalidArgumentError(
      `maxAppendBytes must be a whole number of bytes ≥ 1, got ${describeValue(total)}.`,
    );
  }
  checkDuration(options.statementTimeoutMs, 'statementTimeoutMs', 0, 0);
  if (options.statementTimeoutMs !== undefined && options.url === undefined) {
    throw new InvalidArgumentError(
      'statementTimeoutMs applies to the pool eventlane opens for `url`; set statement_timeout on your own pool, ' +
        'client or PGlite instead.',
    );
  }
  const archive = options.archive;
  if (
    archive !== undefined &&
    (typeof archive !== 'object' ||
      archive === null ||
      typeof archive.dir !== 'string' ||
      archive.dir === '' ||
      Object.keys(archive).some((k) => k !== 'dir'))
  ) {
    throw new InvalidArgumentError(
      `archive must be { dir: '<archive directory>' }, got ${describeValue(archive)}.`,
    );
  }
  if (options.preparedStatements !== undefined && typeof options.preparedStatements !== 'boolean') {
    throw new InvalidArgumentError(
      `preparedStatements must be true or false, got ${describeValue(options.preparedStatements)}.`,
    );
  }
  const size = options.poolSize;
  if (size !== undefined && (!Number.isSafeInteger(size) || size < 1)) {
    throw new InvalidArgumentError(`poolSize must be a whole number ≥ 1, got ${String(size)}.`);
  }
}
