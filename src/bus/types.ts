import type { StoredEvent } from '../events/envelope.js';
import type { BusRejectHandler } from './intake.js';

/**
 * A transport between the relay and consumers. Delivery is at least once; order within a partition is kept
 * by the brokers that can keep it, and consumers guard per-stream order themselves whatever the bus does.
 */
export interface Bus {
  /** 'embedded' | 'nats' | 'rabbitmq' | 'redis' | … */
  readonly kind: string;
  /**
   * The largest message, in bytes, this bus publishes (`Infinity` for none). `publish()` refuses a larger one up
   * front with `MessageTooLargeError`; the relay parks such an event instead of retrying it. May change at
   * `connect()` when the broker tells its own limit (NATS `max_payload`). Every built-in bus declares it; a
   * custom bus that leaves it out is treated as unlimited.
   */
  readonly maxMessageBytes?: number;
  /** Connects and declares what the bus needs (streams, queues, groups). Idempotent. Typed error when unreachable. */
  connect(options: BusConnectOptions): Promise<void>;
  /**
   * Publishes a batch; resolves only when the broker acknowledged every message (durably where it can). Rejects
   * with `MessageTooLargeError` (naming the event) for a message that can never be published, before sending any.
   */
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
