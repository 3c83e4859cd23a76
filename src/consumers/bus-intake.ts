import type { Bus, Delivery, Subscription } from '../bus/types.js';
import { checkStreamName } from '../events/names.js';
import { DEFAULT_PARTITIONS } from '../bus/partition.js';
import { InvalidArgumentError } from '../errors.js';
import type { EventStore } from '../store/event-store.js';
import { getPartitionCount } from '../store/settings.js';
import type { Lane } from './lane.js';
import { loadStreamsBehind, markForCatchUp } from './sql.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Streams per query when a bus-mode worker looks for streams to read from the store. */
const SCAN_PAGE = 5000;

export interface BusIntakeContext {
  bus: Bus;
  store: EventStore;
  q: string;
  /** Consumer names, in the order of each partition's lanes. */
  consumers: readonly string[];
  lane(partition: number, index: number): Lane | undefined;
  partitionOf(stream: string): number;
  running(): boolean;
  onError(error: Error): void;
}

/**
 * A bus-mode worker's side of the bus: its subscriptions, what it does with deliveries it cannot apply, and the
 * catch-up from the store when it takes partitions. A bus message is a notification; nothing here ever nacks a
 * delivery while the store can be written, because every redelivery counts against the broker's delivery limit.
 */
export class BusIntake {
  readonly #c: BusIntakeContext;
  readonly #subscriptions = new Map<string, Subscription>();
  #subscribed = '';
  /** Store scans started when partitions were taken (see scanInBackground). */
  readonly #scans = new Set<Promise<void>>();

  constructor(context: BusIntakeContext) {
    this.#c = context;
  }

  /** One subscription per consumer, over the partitions this worker owns; renewed when they change. */
  async resubscribe(owned: readonly number[]): Promise<void> {
    const key = owned.join(',');
    if (key === this.#subscribed) return;
    // Until every subscription below stands, nothing counts as subscribed: a broker that times out (a cluster
    // electing a leader) fails this tick, and the next tick tries again instead of leaving partitions unheard.
    this.#subscribed = '';
    for (const sub of this.#subscriptions.values())
      await sub.close().catch((e: unknown) => this.#c.onError(e as Error));
    this.#subscriptions.clear();
    if (owned.length === 0) {
      this.#subscribed = key;
      return;
    }
    for (const [index, consumer] of this.#c.consumers.entries()) {
      const sub = await this.#c.bus.subscribe({
        consumer,
        partitions: owned,
        onMessage: (delivery: Delivery) => {
          if (this.#c.lane(delivery.partition, index)?.offerDelivery(delivery)) return Promise.resolve();
          // The partition is changing owner. A nack would count against the broker's delivery limit, which hand-overs
          // under load can use up: the stream is marked for the next owner to read from the store instead.
          return this.setAside(consumer, delivery.partition, [delivery]);
        },
      });
      this.#subscriptions.set(consumer, sub);
    }
    this.#subscribed = key;
  }

  /** Waits for running scans and closes the subscriptions (unacknowledged deliveries go back to the bus). */
  async close(): Promise<void> {
    await Promise.all(this.#scans);
    for (const sub of this.#subscriptions.values())
      await sub.close().catch((e: unknown) => this.#c.onError(e as Error));
    this.#subscriptions.clear();
    this.#subscribed = '';
  }

  /**
   * Deliveries this worker cannot apply (their lane is stopping or gone) are acknowledged once their stream is
   * marked for a catch-up from the store (a row the partition's owner loads, see markForCatchUp). Only when that
   * mark cannot be written is the delivery nacked.
   */
  async setAside(consumer: string, partition: number, deliveries: readonly Delivery[]): Promise<void> {
    const marked = new Set<string>();
    for (const d of deliveries) {
      const e = d.event;
      try {
        // A message that cannot name a stored event (a malformed stream name or id) has nothing to catch up.
        let valid = typeof e.id === 'string' && UUID.test(e.id);
        try {
          checkStreamName(e.stream);
        } catch {
          valid = false;
        }
        if (valid && !marked.has(e.stream)) {
          await markForCatchUp(this.#c.store.executor, this.#c.q, {
            consumer,
            partition,
            stream: e.stream,
            streamPosition: e.streamPosition,
            eventId: e.id,
            eventType: String(e.type),
          });
          marked.add(e.stream);
        }
        await d.ack();
      } catch (error) {
        this.#c.onError(error as Error);
        await d.nack(100).catch(() => undefined);
      }
    }
  }

  /**
   * A bus brings what is published after a consumer subscribed (the embedded bus keeps nothing for a consumer it has
   * not seen; a broker may have dropped a message at its delivery limit). So when this worker takes partitions,
   * every stream of theirs that a consumer has not applied to its end is noted by its lane, which reads from the
   * store whatever the bus does not bring (see Lane.noteBehind).
   */
  scanInBackground(partitions: readonly number[]): void {
    const wanted = new Set(partitions);
    const scan = async (): Promise<void> => {
      for (const [index, consumer] of this.#c.consumers.entries()) {
        let after: string | null = null;
        for (;;) {
          if (!this.#c.running()) return;
          const streams = await loadStreamsBehind(
            this.#c.store.executor,
            this.#c.q,
            consumer,
            after,
            SCAN_PAGE,
          );
          const byPartition = new Map<number, { stream: string; version: number }[]>();
          for (const behind of streams) {
            const p = this.#c.partitionOf(behind.stream);
            if (!wanted.has(p)) continue;
            const list = byPartition.get(p) ?? [];
            list.push(behind);
            byPartition.set(p, list);
          }
          for (const [p, list] of byPartition) this.#c.lane(p, index)?.noteBehind(list);
          if (streams.length < SCAN_PAGE) break;
          after = streams[streams.length - 1]!.stream;
        }
      }
    };
    const done: Promise<void> = scan()
      .catch((error: unknown) => this.#c.onError(error as Error))
      .finally(() => this.#scans.delete(done));
    this.#scans.add(done);
  }
}

/**
 * The relay publishes to the store's partitions: a bus-mode worker that counts otherwise would subscribe to some of
 * them only, and what the others carry would reach it late (from the store) or never. The error to refuse it with.
 */
export async function busPartitionsRefusal(
  store: EventStore,
  partitions: number,
): Promise<InvalidArgumentError | null> {
  const storePartitions = await getPartitionCount(store);
  if (storePartitions === partitions) return null;
  return new InvalidArgumentError(
    `This store has ${storePartitions} partitions and its relay publishes to ${storePartitions}, but the ` +
      `worker was given partitions: ${partitions}. A bus-mode worker must use the store's count: ` +
      `pass partitions: ${storePartitions} (or leave it out when it is ${DEFAULT_PARTITIONS}).`,
  );
}
