import { InvalidArgumentError } from '../errors.js';
import type { NewEvent, StoredEvent } from '../events/envelope.js';
import { createContractRegistry } from '../contracts/registry.js';
import type { AnyEventContract, EventsOf, NewEventsOf } from '../contracts/types.js';
import { loadOpenTelemetry } from '../tracing/otel.js';
import { openDriver } from './drivers/open.js';
import { EventStoreImpl } from './event-store-impl.js';
import { checkSchemaName, DEFAULT_SCHEMA } from './names.js';
import {
  checkEventStoreOptions,
  DEFAULT_MAX_APPEND_BYTES,
  DEFAULT_MAX_EVENT_BYTES,
  type EventStoreOptions,
} from './options.js';

export type {
  CallerTransaction,
  EventStore,
  EventStoreTransaction,
  TransactionConnection,
} from './event-store-types.js';
import type { EventStore } from './event-store-types.js';

/**
 * Opens an event store. With no `url`, `pool`, `client` or `pglite`, the store is embedded (PGlite, in memory
 * or in `dataDir`). Pending migrations are applied unless `migrate: false`.
 *
 * @example
 * const store = await createEventStore({ url: 'postgres://postgres@127.0.0.1:5432/app' });
 * await store.append('order-42', [{ type: 'order.created', data: { total: 10 } }], { expectedVersion: 'no_stream' });
 */
export function createEventStore<const Cs extends readonly AnyEventContract[]>(
  options: EventStoreOptions & { events: Cs; undeclaredEvents?: 'reject' },
): Promise<EventStore<EventsOf<Cs>, NewEventsOf<Cs>>>;
export function createEventStore<const Cs extends readonly AnyEventContract[]>(
  options: EventStoreOptions & { events: Cs; undeclaredEvents: 'allow' },
): Promise<EventStore<EventsOf<Cs> | StoredEvent, NewEventsOf<Cs> | NewEvent>>;
export function createEventStore(options?: EventStoreOptions): Promise<EventStore>;
export async function createEventStore(options: EventStoreOptions = {}): Promise<EventStore> {
  checkEventStoreOptions(options);
  const schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
  if (options.undeclaredEvents !== undefined && options.events === undefined) {
    throw new InvalidArgumentError(
      'undeclaredEvents applies to stores that declare contracts: pass `events` (defineEvent contracts) as well.',
    );
  }
  const contracts =
    options.events === undefined
      ? undefined
      : createContractRegistry(options.events, { undeclaredEvents: options.undeclaredEvents ?? 'reject' });
  // The optional @opentelemetry/api is loaded before the first append, which then only checks for it.
  const [driver] = await Promise.all([openDriver(options), loadOpenTelemetry()]);
  const store = new EventStoreImpl(
    driver,
    schema,
    {
      maxEventBytes: options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
      maxAppendBytes: options.maxAppendBytes ?? DEFAULT_MAX_APPEND_BYTES,
    },
    contracts,
    options.archive?.dir,
  );
  if (options.migrate !== false) {
    try {
      await store.migrate();
    } catch (error) {
      await driver.close().catch(() => undefined);
      throw error;
    }
  }
  return store;
}
