import type { StoredEvent } from '../events/envelope.js';
import type { BusRejectHandler } from './intake.js';

/**
 * A transport between the relay and consumers. Delivery is at least once; order within a partition is kept
 * by the brokers that can keep it, and consumers guard per-stream order themselves whatever the bus does.
 */
export interface Bus {
  /** 'embedded' | 'nats' | 'rabbitmq' | 'redis' | … */
  readonly kind: string;
  /** Connects and declares what the bus needs (streams, queues, groups). Idempotent. Typed error when unreachable. */
  connect(options: BusConnectOptions): Promise<void>;
  /** Publishes a batch; resolves only when the broker acknowledged every message (durably where it can). */
  publish(messages: readonly BusMessage[]): Promise<void>;
  /** Subscribes a named, durable consumer to some partitions. */
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  close(): Promise<void>;
}

export interface BusConnectOptions {
  /** The store's partition count (fixed per store). */
  partitions: number;
}

export interface BusMessage {
  event: StoredEvent;
  partition: number;
  /**
   * The event's CloudEvents JSON (as `encodeCloudEvent(event, { partition, source })` would give, possibly with
   * other whitespace and key order) when the relay already has it; adapters send it as is instead of encoding
   * `event` again. The relay sets it for every bus but the embedded one.
   */
  payload?: string;
}

export interface SubscribeOptions {
  /** Durable consumer name: progress and redelivery are per name. */
  consumer: string;
  partitions: readonly number[];
  /** Called for each delivery; the handler must call `ack` or `nack` (a throw counts as nack with no delay). */
  onMessage: (delivery: Delivery) => Promise<void>;
  /** Most unacknowledged deliveries in flight per partition. @defaultValue adapter-specific */
  maxInFlight?: number;
  /**
   * Called for each message of this subscription the bus refuses (not an event the relay could have published);
   * the bus has set it aside and acknowledged it, and `onMessage` never sees it. Called besides the bus's own
   * `onReject` option. @defaultValue none
   */
  onReject?: BusRejectHandler;
}

export interface Delivery {
  event: StoredEvent;
  partition: number;
  /** 1 on first delivery, more on redelivery, where the broker tells. */
  attempt: number;
  ack(): Promise<void>;
  /** Asks for redelivery after `delayMs` (at least; brokers round up). */
  nack(delayMs?: number): Promise<void>;
}

export interface Subscription {
  /** Stops receiving; in-flight deliveries not acknowledged are redelivered later. */
  close(): Promise<void>;
}
