import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { BusError, ErrorCodes, InvalidArgumentError } from '../../errors.js';
import { CLOUDEVENTS_CONTENT_TYPE, encodeCloudEvent } from '../cloudevents.js';
import { createIntake, headerText, type BusIntakeOptions } from '../intake.js';
import { refuseOversized } from '../limits.js';
import { checkDuration, checkName, checkPositiveInt, withTimeout } from '../options.js';
import type {
  Bus,
  BusConnectOptions,
  BusMessage,
  Delivery,
  SubscribeOptions,
  Subscription,
} from '../types.js';
import { parsesAsUrl, redactedError, redactText, redactUrl } from '../../redact.js';

export interface RabbitMqBusOptions extends BusIntakeOptions {
  /** AMQP URL, e.g. `amqp://guest:guest@127.0.0.1:5672`. */
  url: string;
  /** Direct exchange the relay publishes to (routing key `p<partition>`); queues are named after it. @defaultValue 'eventlane' */
  exchange?: string;
  /**
   * Consumer names whose queues are declared at `connect()`. RabbitMQ drops a message no queue is bound for, so
   * declare every consumer here (or subscribe it once) before the relay publishes: until a consumer's queues exist,
   * the relay's publishes fail as unroutable and it retries rather than lose events. @defaultValue []
   */
  consumers?: string[];
  /** @defaultValue 5000 */
  connectTimeoutMs?: number;
  /** Deliveries of one message before it is dead-lettered to `<exchange>.<consumer>.dead`. @defaultValue 10 */
  deliveryLimit?: number;
  /** Unacknowledged deliveries per partition queue (prefetch). @defaultValue 256 */
  maxInFlight?: number;
  /**
   * Largest message body to publish; a larger event is refused (`MessageTooLargeError`) and parked by the relay.
   * Set it to the broker's `max_message_size` when that was lowered. @defaultValue 134217728 (RabbitMQ's default, 128 MiB)
   */
  maxMessageBytes?: number;
}

function connectError(error: unknown, where: string): BusError {
  // The driver's message may quote the URL it was given.
  const message = redactText((error as Error)?.message ?? String(error));
  const auth = /ACCESS[-_]REFUSED|403|authenticat|NOT_ALLOWED|530/i.test(message);
  return new BusError(
    auth ? ErrorCodes.BUS_AUTHENTICATION : ErrorCodes.BUS_UNREACHABLE,
    'rabbitmq',
    auth
      ? `RabbitMQ at ${where} refused the login or the virtual host (${message}). Check user, password and vhost in the URL.`
      : `Cannot connect to RabbitMQ at ${where} (${message}). Check that the broker runs and the URL is right.`,
    { cause: redactedError(error) },
  );
}

/**
 * RabbitMQ: a direct exchange, one quorum queue per partition and consumer (`<exchange>.<consumer>.p<n>`) with
 * single active consumer (per-partition order with failover) and a delivery limit that dead-letters poison
 * messages; publisher confirms, mandatory routing.
 */
export function rabbitmqBus(options: RabbitMqBusOptions): Bus {
  const url = options?.url;
  if (typeof url !== 'string' || !/^amqps?:\/\/[^/]+/.test(url) || !parsesAsUrl(url)) {
    throw new InvalidArgumentError(
      `rabbitmqBus needs url such as 'amqp://guest:guest@127.0.0.1:5672' (user and password percent-encoded), got ${
        typeof url === 'string' ? JSON.stringify(redactUrl(url)) : typeof url
      }.`,
    );
  }
  const where = redactUrl(url);
  const exchange = checkName(options.exchange ?? 'eventlane', 'exchange', /^[A-Za-z0-9_.-]{1,100}$/);
  const declared = (options.consumers ?? []).map((c) =>
    checkName(c, 'consumers[]', /^[A-Za-z0-9_-]{1,100}$/),
  );
  const connectTimeoutMs = checkDuration(options.connectTimeoutMs, 'connectTimeoutMs', 5000);
  const deliveryLimit = checkPositiveInt(options.deliveryLimit, 'deliveryLimit', 10);
  const maxInFlight = checkPositiveInt(options.maxInFlight, 'maxInFlight', 256);
  const deadExchange = `${exchange}.dead`;
  const deadLetter = options.deadLetter ?? true;
  const intake = createIntake('rabbitmq', options);
  const maxMessageBytes = checkPositiveInt(options.maxMessageBytes, 'maxMessageBytes', 128 * 1024 * 1024);

  let conn: ChannelModel | undefined;
  let channel: ConfirmChannel | undefined;
  let broken = true;
  let partitions = 0;
  let closed = false;
  const returned = new Set<string>();
  const subscriptions = new Set<Subscription>();

  const open = async (): Promise<void> => {
    try {
      conn = await withTimeout(
        amqp.connect(url, { timeout: connectTimeoutMs }),
        connectTimeoutMs + 500,
        () => new Error(`no answer within ${connectTimeoutMs} ms`),
      );
    } catch (error) {
      throw connectError(error, where);
    }
    const c = conn;
    const markBroken = (): void => {
      if (conn === c) broken = true;
    };
    c.on('error', markBroken);
    c.on('close', markBroken);
    channel = await c.createConfirmChannel();
    channel.on('error', markBroken);
    channel.on('close', markBroken);
    channel.on('return', (m: { properties: { messageId?: string } }) => {
      if (m.properties.messageId) returned.add(m.properties.messageId);
    });
    await channel.assertExchange(exchange, 'direct', { durable: true });
    await channel.assertExchange(deadExchange, 'direct', { durable: true });
    broken = false;
  };

  const usable = async (): Promise<ConfirmChannel> => {
    if (closed)
      throw new BusError(ErrorCodes.BUS_CLOSED, 'rabbitmq', 'The RabbitMQ bus was closed; create a new one.');
    if (broken || !channel) {
      await conn?.close().catch(() => undefined);
      await open();
    }
    return channel!;
  };

  const queueOf = (consumer: string, p: number): string => `${exchange}.${consumer}.p${p}`;

  const declareConsumer = async (ch: amqp.Channel, consumer: string): Promise<void> => {
    const dead = `${exchange}.${consumer}.dead`;
    await ch.assertQueue(dead, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.bindQueue(dead, deadExchange, consumer);
    for (let p = 0; p < partitions; p++) {
      const q = queueOf(consumer, p);
      await ch.assertQueue(q, {
        durable: true,
        arguments: {
          'x-queue-type': 'quorum',
          'x-single-active-consumer': true,
          'x-delivery-limit': deliveryLimit,
          'x-dead-letter-exchange': deadExchange,
          'x-dead-letter-routing-key': consumer,
        },
      });
      await ch.bindQueue(q, exchange, `p${p}`);
    }
  };

  return {
    kind: 'rabbitmq',
    maxMessageBytes,
    async connect(connectOptions: BusConnectOptions): Promise<void> {
      partitions = connectOptions.partitions;
      const ch = await usable();
      for (const consumer of declared) await declareConsumer(ch, consumer);
    },

    async publish(messages: readonly BusMessage[]): Promise<void> {
      const ch = await usable();
      // An oversized message closes the channel (and fails every batch in flight on it): refuse it here.
      refuseOversized('rabbitmq', messages, maxMessageBytes);
      // One confirm per message (not waitForConfirms, which waits for every batch in flight on the channel), so
      // the relay can overlap batches.
      const confirms: Promise<void>[] = [];
      try {
        for (const m of messages) {
          let writable = true;
          confirms.push(
            new Promise<void>((resolve, reject) => {
              writable = ch.publish(
                exchange,
                `p${m.partition}`,
                Buffer.from(m.payload ?? encodeCloudEvent(m.event, { partition: m.partition })),
                {
                  persistent: true,
                  mandatory: true,
                  messageId: m.event.id,
                  contentType: CLOUDEVENTS_CONTENT_TYPE,
                },
                (err: unknown) =>
                  err
                    ? reject(err instanceof Error ? err : new Error('negative acknowledgement'))
                    : resolve(),
              );
            }),
          );
          // Respect the socket's backpressure rather than buffer a whole batch in memory.
          if (!writable) await new Promise((resolve) => ch.once('drain', resolve));
        }
        await Promise.all(confirms);
      } catch (error) {
        broken = true;
        throw new BusError(
          ErrorCodes.BUS_PUBLISH,
          'rabbitmq',
          `RabbitMQ did not confirm a batch of ${messages.length} messages (${(error as Error).message}); it will be published again.`,
          { cause: error },
        );
      }
      // A mandatory message no queue takes comes back (basic.return) before its confirm.
      let unroutable = 0;
      for (const m of messages) if (returned.delete(m.event.id)) unroutable++;
      if (unroutable > 0) {
        throw new BusError(
          ErrorCodes.BUS_PUBLISH,
          'rabbitmq',
          `RabbitMQ could not route ${unroutable} messages: no queue is bound for their partitions on exchange ` +
            `${exchange}. Declare the consumers (rabbitmqBus({ consumers: [...] })) or subscribe them before publishing.`,
        );
      }
    },

    async subscribe(subscribeOptions: SubscribeOptions): Promise<Subscription> {
      const consumer = checkName(subscribeOptions.consumer, 'consumer', /^[A-Za-z0-9_-]{1,100}$/);
      const admin = await usable();
      await declareConsumer(admin, consumer);
      const ch = await conn!.createChannel();
      await ch.prefetch(subscribeOptions.maxInFlight ?? maxInFlight, false);
      // A refused message is copied, with why, to the consumer's dead-letter queue (through the dead-letter
      // exchange, confirmed), then acknowledged. Rejecting it to the queue's own dead-lettering would lose the why.
      const setAside = async (
        msg: ConsumeMessage,
        p: number,
        reason: string,
        error: string,
      ): Promise<void> => {
        try {
          if (deadLetter) {
            const confirm = await usable();
            await new Promise<void>((resolve, reject) => {
              confirm.publish(
                deadExchange,
                consumer,
                msg.content,
                {
                  ...msg.properties,
                  persistent: true,
                  headers: {
                    ...(msg.properties.headers ?? {}),
                    'x-eventlane-reject-reason': reason,
                    'x-eventlane-reject-error': headerText(error),
                    'x-eventlane-partition': p,
                    'x-eventlane-queue': queueOf(consumer, p),
                  },
                },
                (err: unknown) =>
                  err
                    ? reject(err instanceof Error ? err : new Error('negative acknowledgement'))
                    : resolve(),
              );
            });
          }
          ch.ack(msg);
        } catch {
          // No copy: put it back after a while; it is refused (and reported) again rather than lost silently.
          setTimeout(() => {
            try {
              ch.nack(msg, false, true);
            } catch {
              // The channel closed: the broker requeues unacknowledged messages itself.
            }
          }, 1000).unref();
        }
      };
      const tags: string[] = [];
      for (const p of subscribeOptions.partitions) {
        if (!Number.isInteger(p) || p < 0 || p >= partitions) {
          throw new InvalidArgumentError(
            `Partition ${String(p)} does not exist: this store has partitions 0 to ${partitions - 1}.`,
          );
        }
        const dead = deadLetter ? `${exchange}.${consumer}.dead` : undefined;
        const reply = await ch.consume(queueOf(consumer, p), (msg: ConsumeMessage | null) => {
          if (!msg) return;
          const decoded = intake(msg.content, {
            consumer,
            partition: p,
            onReject: subscribeOptions.onReject,
            deadLetter: dead,
          });
          if ('rejection' in decoded) {
            const { reason, error } = decoded.rejection;
            void setAside(msg, p, reason, error.message);
            return;
          }
          let settled = false;
          const count = Number((msg.properties.headers ?? {})['x-delivery-count'] ?? 0);
          const delivery: Delivery = {
            event: decoded.event,
            partition: p,
            attempt: count + 1,
            ack: () => {
              if (!settled) {
                settled = true;
                ch.ack(msg);
              }
              return Promise.resolve();
            },
            nack: (delayMs = 0) => {
              if (!settled) {
                settled = true;
                // RabbitMQ cannot delay a requeue; hold the message (it counts against prefetch) until then.
                const requeue = (): void => {
                  try {
                    ch.nack(msg, false, true);
                  } catch {
                    // The channel closed: the broker requeues unacknowledged messages itself.
                  }
                };
                if (delayMs > 0) setTimeout(requeue, delayMs).unref();
                else requeue();
              }
              return Promise.resolve();
            },
          };
          try {
            subscribeOptions.onMessage(delivery).catch(() => delivery.nack());
          } catch {
            void delivery.nack();
          }
        });
        tags.push(reply.consumerTag);
      }
      const sub: Subscription = {
        close: async () => {
          subscriptions.delete(sub);
          await ch.close().catch(() => undefined);
        },
      };
      subscriptions.add(sub);
      return sub;
    },

    async close(): Promise<void> {
      closed = true;
      for (const s of [...subscriptions]) await s.close();
      await conn?.close().catch(() => undefined);
    },
  };
}
