// What every operator command shares: its common options, the store it opens (DATABASE_URL or the config, the
// schema from --schema, EVENTLANE_SCHEMA or the config), the actor recorded in the audit log, and how an error
// becomes one line, a hint and an exit code.

import type { Command } from 'commander';
import { userInfo } from 'node:os';
import { createEventStore, type EventStore } from '../store/event-store.js';
import { DEFAULT_SCHEMA, quoteIdent } from '../store/names.js';
import { ErrorCodes, InvalidConfigError, isEventlaneError, MigrationError } from '../errors.js';
import { redactText, redactUrl } from '../redact.js';
import { importConfig, type EventlaneConfig } from './config.js';
import { cliIo, EXIT_CODES } from './io.js';

export interface CommonOptions {
  config?: string;
  schema?: string;
  json?: boolean;
  verbose?: boolean;
}

/** Adds --config, --schema, --json and --verbose to an operator command. */
export function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config module (default: ./eventlane.config.{ts,mts,js,mjs} when present)')
    .option(
      '--schema <name>',
      "the store's schema (default: EVENTLANE_SCHEMA, database.schema of the config, else eventlane)",
    )
    .option('--json', 'print JSON for machines')
    .option('--verbose', 'print the stack of an error');
}

export async function loadOpsConfig(options: CommonOptions): Promise<EventlaneConfig> {
  const io = cliIo();
  const loaded = await importConfig(
    options.config,
    io.cwd,
    (message, details, cause) => new InvalidConfigError(message, details, cause),
    true,
  );
  const config = loaded?.config ?? {};
  if (typeof config !== 'object' || config === null) {
    throw new InvalidConfigError(`${loaded?.file ?? 'The config'} must export an object.`);
  }
  return config;
}

/** Opens the store the command works on. Does not migrate: `eventlane migrate` does that, on purpose. */
export async function openStore(options: CommonOptions, config?: EventlaneConfig): Promise<EventStore> {
  const io = cliIo();
  const cfg = config ?? (await loadOpsConfig(options));
  const url = io.env.DATABASE_URL || cfg.database?.url;
  if (url === undefined || url === '') {
    throw new InvalidConfigError(
      'No database: set DATABASE_URL (e.g. postgres://user@127.0.0.1:5432/app) or database.url in eventlane.config.',
    );
  }
  if (typeof url !== 'string') throw new InvalidConfigError('database.url of the config must be a string.');
  const schema =
    options.schema ?? (io.env.EVENTLANE_SCHEMA || undefined) ?? cfg.database?.schema ?? DEFAULT_SCHEMA;
  // The config's contracts: appends are validated and reads upcast exactly as in the application.
  const events = Array.isArray(cfg.events) && cfg.events.length > 0 ? cfg.events : undefined;
  return createEventStore({ url, schema, migrate: false, poolSize: 4, ...(events ? { events } : {}) });
}

/** Refuses to work on a schema without eventlane's tables, with the command that fixes it. */
export async function requireMigrated(store: EventStore): Promise<void> {
  const [row] = await store.executor.query<{ present: boolean }>(
    `select to_regclass($1) is not null as present`,
    [`${quoteIdent(store.schema)}.archive_state`],
  );
  if (!row?.present) {
    throw new MigrationError(
      `Schema ${store.schema} has no eventlane tables, or older ones. Run \`eventlane migrate --schema ${store.schema}\` first.`,
    );
  }
}

/** Runs `fn` with the store open and migrated, and closes it whatever happens. */
export async function withStore<T>(
  options: CommonOptions,
  fn: (store: EventStore) => Promise<T>,
): Promise<T> {
  const store = await openStore(options);
  try {
    await requireMigrated(store);
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Who the audit log records for a CLI action: --as, EVENTLANE_ACTOR, else `cli:<os user>`. */
export function actorOf(as: string | undefined): string {
  if (as !== undefined && as !== '') return as;
  const env = cliIo().env.EVENTLANE_ACTOR;
  if (env) return env;
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No user entry (some containers): keep 'unknown'.
  }
  return `cli:${user}`;
}

const HINTS: Partial<Record<string, string>> = {
  [ErrorCodes.STREAM_CLOSED]:
    '`eventlane streams closed` lists closed streams; a closed stream stays closed.',
  [ErrorCodes.CONNECTION]:
    'Check DATABASE_URL (or database.url in the config) and that PostgreSQL is running.',
  [ErrorCodes.STATEMENT_TIMEOUT]: 'The database is slow or locked; try again, or look at `eventlane status`.',
  [ErrorCodes.MIGRATION]: 'Run `eventlane migrate` (with the same --schema).',
  [ErrorCodes.INVALID_CONFIG]: 'See `eventlane <command> --help` and docs/operations.md.',
  [ErrorCodes.INVALID_ARGUMENT]: 'See `eventlane <command> --help`.',
  [ErrorCodes.INVALID_CHECKPOINT]: 'A checkpoint looks like 1234:56, as `eventlane read --json` prints it.',
  [ErrorCodes.UNKNOWN_CONSUMER]: 'List the consumers and projections with `eventlane status`.',
  [ErrorCodes.PARKED_EVENT_NOT_FOUND]: 'List parked events with `eventlane parked list`.',
  [ErrorCodes.RELAY_PARKED_NOT_FOUND]:
    'List relay-parked events with `eventlane parked list --relay <name>`.',
  [ErrorCodes.NOT_FOUND]: 'Check the name or id; `eventlane status` lists what the store holds.',
  [ErrorCodes.WORKER_STATE]: '`eventlane projections list` shows whether it is stopped at a failing event.',
  [ErrorCodes.INVALID_CONTRACT]: 'Fix the config file named above.',
  [ErrorCodes.CONCURRENCY]:
    'Read the stream (`eventlane read <stream>`) and append with the version it is at.',
  [ErrorCodes.INVALID_EVENT]:
    'An event is {"type": "order.paid", "data": {…}} with optional "metadata", "id" and "version" (docs/store.md).',
  [ErrorCodes.INVALID_TRACE_CONTEXT]:
    'metadata.traceparent is a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>); leave it out when there is none.',
  [ErrorCodes.INVALID_STREAM]:
    'A stream name is 1–256 characters without control characters (docs/store.md).',
  [ErrorCodes.SCHEMA_VALIDATION]:
    'The event does not match its contract: `eventlane contracts docs` shows the schemas.',
  [ErrorCodes.UNDECLARED_EVENT]: 'Declare a contract for the type in the config, or use a declared type.',
  [ErrorCodes.EVENT_TOO_LARGE]: 'Split the data or raise maxEventBytes of the store (docs/store.md).',
  [ErrorCodes.APPEND_TOO_LARGE]: 'Append in smaller batches, or raise maxAppendBytes of the store.',
  [ErrorCodes.DUPLICATE_EVENT_ID]:
    'An event id is unique across the log: leave "id" out to have one generated.',
  [ErrorCodes.REPLAY_JOB_NOT_FOUND]: 'List replay jobs with `eventlane replay list`.',
  [ErrorCodes.REPLAY_JOB_STATE]: "`eventlane replay show <id>` tells the job's state.",
  [ErrorCodes.REPLAY_PREVIEW_REQUIRED]:
    'Run `eventlane replay plan` with the same options and pass its --preview-token.',
  [ErrorCodes.REPLAY_PREVIEW_MISMATCH]: 'Plan again with exactly the options of the start.',
  [ErrorCodes.REPLAY_RANGE]:
    'A bound is a checkpoint (1234:56) or an ISO time; --from must come before --to.',
  [ErrorCodes.REPLAY_MODE]: 'See docs/replay.md for which kinds fit projections and reactors.',
  [ErrorCodes.ARCHIVE_BOUND]:
    '--before is an ISO time in the past or a checkpoint (1234:56) a reader has reached.',
  [ErrorCodes.ARCHIVE_HELD_BACK]:
    '`eventlane status` shows where consumers and relays stand; archive again once they passed, or without --strict.',
  [ErrorCodes.ARCHIVE_TARGET]: 'See docs/retention.md: one writable directory per store.',
  [ErrorCodes.ARCHIVE_SEGMENT]:
    'Restore the named segment from a backup of the archive directory (docs/retention.md).',
  [ErrorCodes.STREAM_ARCHIVED]: "Read it with readStream(stream, { archived: 'read' }).",
};

const EXIT_BY_CODE: Partial<Record<string, number>> = {
  [ErrorCodes.CONNECTION]: EXIT_CODES.UNAVAILABLE,
  [ErrorCodes.STATEMENT_TIMEOUT]: EXIT_CODES.UNAVAILABLE,
  [ErrorCodes.UNKNOWN_CONSUMER]: EXIT_CODES.NOT_FOUND,
  [ErrorCodes.PARKED_EVENT_NOT_FOUND]: EXIT_CODES.NOT_FOUND,
  [ErrorCodes.RELAY_PARKED_NOT_FOUND]: EXIT_CODES.NOT_FOUND,
  [ErrorCodes.NOT_FOUND]: EXIT_CODES.NOT_FOUND,
  [ErrorCodes.WORKER_STATE]: EXIT_CODES.CONFLICT,
  [ErrorCodes.MIGRATION]: EXIT_CODES.CONFLICT,
  [ErrorCodes.CONCURRENCY]: EXIT_CODES.CONFLICT,
  [ErrorCodes.STREAM_CLOSED]: EXIT_CODES.CONFLICT,
  [ErrorCodes.REPLAY_JOB_NOT_FOUND]: EXIT_CODES.NOT_FOUND,
  [ErrorCodes.REPLAY_JOB_STATE]: EXIT_CODES.CONFLICT,
  [ErrorCodes.ARCHIVE_HELD_BACK]: EXIT_CODES.CONFLICT,
  [ErrorCodes.ARCHIVE_SEGMENT]: EXIT_CODES.FOUND,
};

/**
 * Reports an error as one line and a hint (the stack only with --verbose) and returns the exit code. Unknown
 * errors are bugs or driver failures: they exit 1 with the hint to rerun with --verbose.
 */
export function reportError(error: unknown, verbose: boolean): number {
  const io = cliIo();
  if (isEventlaneError(error)) {
    io.err(`eventlane: ${redactText(error.message)}\n`);
    const hint = HINTS[error.code];
    if (hint) io.err(`hint: ${hint}\n`);
    if (verbose && error.stack) io.err(`${redactText(error.stack)}\n`);
    return EXIT_BY_CODE[error.code] ?? EXIT_CODES.USAGE;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.err(`eventlane: unexpected error: ${redactText(message)}\n`);
  if (verbose && error instanceof Error && error.stack) io.err(`${redactText(error.stack)}\n`);
  else io.err('hint: run again with --verbose for the stack, and report it if it looks like a bug.\n');
  return EXIT_CODES.FOUND;
}

/** The database a command talks to, without its password, for human output. */
export function describeDatabase(store: EventStore, config: EventlaneConfig): string {
  const url = cliIo().env.DATABASE_URL || config.database?.url || '';
  return `${redactUrl(url)} (schema ${store.schema})`;
}
