import type { ProjectionDefinition } from '../consumers/define.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import type { EventStore, EventStoreTransaction } from '../store/event-store.js';
import { handleCommand, transactionHandle } from '../store/handle.js';
import { applyEvents, tableMap } from './tables.js';

/**
 * The store seen through inline projections: every append (alone or in `transaction`) also runs the inline
 * projections whose defined version is live, in the same transaction. A handler that throws rolls back the
 * append with it. Each inline append first takes a share lock on the version's row, which the switch of a
 * rebuild takes exclusively: a switch never misses an append in flight.
 */
export function inlineStore(
  base: EventStore,
  q: string,
  schema: string,
  defs: readonly ProjectionDefinition[],
): EventStore {
  const inline = defs.filter((d) => d.mode === 'inline');
  if (inline.length === 0) return base;
  const wrap = (tx: EventStoreTransaction): EventStoreTransaction => {
    const wrapped: EventStoreTransaction = {
      ...tx,
      // A command handled in this transaction appends through the wrapped append, so inline projections see it.
      handle: transactionHandle(() => wrapped, q),
      append: async (stream, events, appendOptions) => {
        const rows = await tx.query<{ name: string; version: number; status: string }>(
          `select name, version, status from ${q}.projections
          where name = any($1) and version = any($2) for share`,
          [inline.map((d) => d.name), inline.map((d) => d.version)],
        );
        const result = await tx.append(stream, events, appendOptions);
        if (result.duplicate) return result;
        const live = inline.filter((d) =>
          rows.some((r) => r.name === d.name && r.version === d.version && r.status === 'live'),
        );
        if (live.length === 0) return result;
        const stored = await tx.readStream(stream, {
          from: result.positions[0]!,
          limit: result.positions.length,
        });
        const ex: Pick<SqlExecutor, 'query'> = { query: (text, params) => tx.query(text, params) };
        for (const d of live) await applyEvents(d, ex, tableMap(d, schema, d.version), stored);
        return result;
      },
    };
    return wrapped;
  };
  // Explicit delegation: the store keeps its state in private fields, so a prototype-based proxy would break.
  const store: EventStore = {
    get schema() {
      return base.schema;
    },
    get driver() {
      return base.driver;
    },
    get executor() {
      return base.executor;
    },
    get contracts() {
      return base.contracts;
    },
    migrate: () => base.migrate(),
    append: (stream, events, o) => base.transaction((tx) => wrap(tx).append(stream, events, o)),
    transaction: (fn) => base.transaction((tx) => fn(wrap(tx))),
    enlist: (connection) => wrap(base.enlist(connection)),
    readStream: (stream, o) => base.readStream(stream, o),
    streamVersion: (stream) => base.streamVersion(stream),
    handle: (stream, decide, o) => handleCommand((fn) => store.transaction(fn), q, stream, decide, o),
    readLog: (o) => base.readLog(o),
    iterateLog: (o) => base.iterateLog(o),
    // The final event of a close is not applied inline: inline projections see it through the log only.
    closeStream: (stream, o) => base.closeStream(stream, o),
    forget: (subject) => base.forget(subject),
    reveal: (events, mode) => base.reveal(events, mode),
    head: () => base.head(),
    health: () => base.health(),
    onCommit: (listener) => base.onCommit(listener),
    registerMetrics: (registry) => base.registerMetrics(registry),
    close: () => base.close(),
  };
  return store;
}
