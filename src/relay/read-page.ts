import { encodeCloudEvent } from '../bus/cloudevents.js';
import { partitionOf } from '../bus/partition.js';
import type { BusMessage } from '../bus/types.js';
import type { EventStore } from '../store/event-store.js';
import { readLog } from '../store/read.js';
import { readLogWire } from './read-wire.js';
import type { Settings } from './relay-options.js';
import { wireMessage } from './relay-parking.js';

/** One read of the relay: the messages to publish, and the checkpoint after the last of them. */
export interface Page {
  messages: BusMessage[];
  checkpoint: string;
}

/** Reads the next batch after `after` as bus messages (pre-encoded by PostgreSQL for broker buses). */
export async function readPage(
  store: EventStore,
  q: string,
  busKind: string,
  partitions: number,
  settings: Pick<Settings, 'batchSize' | 'source'>,
  after: string,
): Promise<Page> {
  const { batchSize, source } = settings;
  if (busKind === 'embedded') {
    const page = await store.readLog({ after, limit: batchSize, unreadable: 'mark' });
    return {
      messages: page.events.map((event) => ({ event, partition: partitionOf(event.stream, partitions) })),
      checkpoint: page.checkpoint,
    };
  }
  const page = await readLogWire(store.executor, q, after, batchSize, source, (events) =>
    store.reveal(events, 'mark'),
  );
  if (page.events.length === 0 && store.logArchive !== undefined) {
    // Nothing from the table: a relay that stands before archived events (a new one, say) reads them through.
    const archived = await readLog(store.executor, q, { after, limit: batchSize }, store.logArchive);
    if (archived.events.length > 0) {
      const events = await store.reveal(archived.events, 'mark');
      return {
        messages: events.map((event) => {
          const partition = partitionOf(event.stream, partitions);
          return { event, partition, payload: encodeCloudEvent(event, { source, partition }) };
        }),
        checkpoint: archived.checkpoint,
      };
    }
  }
  return {
    messages: page.events.map((wire) => wireMessage(wire, partitions, false)),
    checkpoint: page.checkpoint,
  };
}
