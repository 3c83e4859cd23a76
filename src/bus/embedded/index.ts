import { BusError, ErrorCodes, InvalidArgumentError } from '../../errors.js';
import type { StoredEvent } from '../../events/envelope.js';
import { refuseOversized } from '../limits.js';
import { checkPositiveInt } from '../options.js';
import type {
  Bus,
  BusConnectOptions,
  BusMessage,
  Delivery,
  SubscribeOptions,
  Subscription,
} from '../types.js';

export interface EmbeddedBusOptions {
  /** Unacknowledged deliveries in flight per partition and consumer. @defaultValue 64 */
  maxInFlight?: number;
  /**
   * Largest event (as its CloudEvents JSON) to hand on; a larger one is refused (`MessageTooLargeError`) and parked
   * by the relay. Set it to the limit of the broker you will move to, to meet oversized events early.
   * @defaultValue Infinity (no limit: nothing is serialised)
   */
  maxMessageBytes?: number;
}

interface Pending {
  event: StoredEvent;
  attempt: number;
}

interface Lane {
  partition: number;
  queue: Pending[];
  inFlight: number;
  /** Subscriptions for this consumer and partition; the first open one is the active one. */
  subscribers: SubscriptionImpl[];
}

class SubscriptionImpl implements Subscription {
  closed = false;
  readonly unacked = new Set<Pending>();
  constructor(
    readonly options: SubscribeOptions,
    readonly maxInFlight: number,
    readonly onClose: (s: SubscriptionImpl) => void,
  ) {}
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.onClose(this);
    }
    return Promise.resolve();
  }
}

/**
 * An in-process bus for a single-process app, and the relay's default when no bus is given. Publishing hands each
 * event to the consumers subscribed in this process at that moment (a consumer name that has never subscribed gets
 * nothing: a consumer that needs history reads the log). Acknowledged means "queued in memory": a crash loses what
 * was queued but not handled, which the relay's checkpoint cannot know — use the log or a broker when that matters.
 */
export function embeddedBus(options: EmbeddedBusOptions = {}): Bus {
  const maxInFlight = options.maxInFlight ?? 64;
  if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) {
    throw new InvalidArgumentError(`maxInFlight must be a whole number ≥ 1, got ${String(maxInFlight)}.`);
  }
  const maxMessageBytes =
    options.maxMessageBytes === undefined
      ? Infinity
      : checkPositiveInt(options.maxMessageBytes, 'maxMessageBytes', Infinity);
  /** consumer name → partition → lane */
  const consumers = new Map<string, Map<number, Lane>>();
  let partitions = 0;
  let closed = false;

  const pump = (lane: Lane): void => {
    const sub = lane.subscribers.find((s) => !s.closed);
    if (!sub) return;
    while (lane.inFlight < sub.maxInFlight && lane.queue.length > 0) {
      const item = lane.queue.shift()!;
      lane.inFlight++;
      sub.unacked.add(item);
      let settled = false;
      const settle = (requeueAfterMs: number | undefined): Promise<void> => {
        if (settled) return Promise.resolve();
        settled = true;
        if (!sub.unacked.delete(item)) return Promise.resolve(); // already requeued by close()
        lane.inFlight--;
        if (requeueAfterMs !== undefined) {
          const requeue = (): void => {
            lane.queue.unshift({ event: item.event, attempt: item.attempt + 1 });
            pump(lane);
          };
          if (requeueAfterMs <= 0) queueMicrotask(requeue);
          else setTimeout(requeue, requeueAfterMs).unref();
        }
        queueMicrotask(() => pump(lane));
        return Promise.resolve();
      };
      const delivery: Delivery = {
        event: item.event,
        partition: lane.partition,
        attempt: item.attempt,
        ack: () => settle(undefined),
        nack: (delayMs = 0) => settle(Math.max(0, delayMs)),
      };
      sub.options.onMessage(delivery).catch(() => settle(0));
    }
  };

  const removeSubscriber = (sub: SubscriptionImpl): void => {
    const lanes = consumers.get(sub.options.consumer);
    if (!lanes) return;
    for (const p of sub.options.partitions) {
      const lane = lanes.get(p);
      if (!lane) continue;
      lane.subscribers = lane.subscribers.filter((s) => s !== sub);
      // What the closed subscriber had not acknowledged goes back to the front, for the next one.
      const back = [...sub.unacked].map((i) => ({ event: i.event, attempt: i.attempt + 1 }));
      back.sort((a, b) => (a.event.globalPosition < b.event.globalPosition ? -1 : 1));
      lane.inFlight -= back.length;
      lane.queue.unshift(...back);
      pump(lane);
    }
    sub.unacked.clear();
  };

  const ensureOpen = (): void => {
    if (closed)
      throw new BusError(ErrorCodes.BUS_CLOSED, 'embedded', 'The embedded bus was closed; create a new one.');
  };

  // The Bus methods return promises; a bad argument must reject them, not throw at the call.
  const settle = <T>(work: () => T): Promise<T> => {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  };

  return {
    kind: 'embedded',
    maxMessageBytes,
    connect(connectOptions: BusConnectOptions): Promise<void> {
      return settle(() => {
        ensureOpen();
        partitions = connectOptions.partitions;
      });
    },
    publish(messages: readonly BusMessage[]): Promise<void> {
      return settle(() => {
        refuseOversized('embedded', messages, maxMessageBytes);
        publishNow(messages);
      });
    },
    subscribe(subscribeOptions: SubscribeOptions): Promise<Subscription> {
      return settle(() => subscribeNow(subscribeOptions));
    },
    close(): Promise<void> {
      closed = true;
      consumers.clear();
      return Promise.resolve();
    },
  };

  function publishNow(messages: readonly BusMessage[]): void {
    ensureOpen();
    const touched = new Set<Lane>();
    for (const lanes of consumers.values()) {
      for (const m of messages) {
        const lane = lanes.get(m.partition);
        if (!lane) continue;
        lane.queue.push({ event: m.event, attempt: 1 });
        touched.add(lane);
      }
    }
    for (const lane of touched) pump(lane);
  }

  function subscribeNow(subscribeOptions: SubscribeOptions): Subscription {
    ensureOpen();
    for (const p of subscribeOptions.partitions) {
      if (!Number.isInteger(p) || p < 0 || (partitions > 0 && p >= partitions)) {
        throw new InvalidArgumentError(
          `Partition ${String(p)} does not exist: this store has partitions 0 to ${partitions - 1}.`,
        );
      }
    }
    const sub = new SubscriptionImpl(
      subscribeOptions,
      subscribeOptions.maxInFlight ?? maxInFlight,
      removeSubscriber,
    );
    let lanes = consumers.get(subscribeOptions.consumer);
    if (!lanes) consumers.set(subscribeOptions.consumer, (lanes = new Map<number, Lane>()));
    for (const p of subscribeOptions.partitions) {
      let lane = lanes.get(p);
      if (!lane) lanes.set(p, (lane = { partition: p, queue: [], inFlight: 0, subscribers: [] }));
      lane.subscribers.push(sub);
      pump(lane);
    }
    return sub;
  }
}
