import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  StorageType,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { BusError, ErrorCodes, InvalidArgumentError } from '../../errors.js';
import { encodeCloudEvent } from '../cloudevents.js';
import { createIntake, type BusIntakeOptions } from '../intake.js';
import type {
  Bus,
  BusConnectOptions,
  BusMessage,
  Delivery,
  SubscribeOptions,
  Subscription,
} from '../types.js';
import { NATS_DEFAULT_MAX_PAYLOAD, refuseOversized } from '../limits.js';
import { checkDuration, checkName, checkPositiveInt, withTimeout } from '../options.js';
import { parsesAsUrl, redactText, redactUrls } from '../../redact.js';
import { JetStreamPublisher } from './publish.js';
import { connectError, setAside } from './failures.js';

export interface NatsBusOptions extends BusIntakeOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** JetStream stream holding the events; created when missing. @defaultValue 'EVENTLANE' */
  stream?: string;
  /** Subjects are `<subjectPrefix>.p<partition>`. @defaultValue 'eventlane' */
  subjectPrefix?: string;
  /** Credentials and other client options (user, pass, token, tls, …), passed to `@nats-io/transport-node`. */
  connection?: Omit<NodeConnectionOptions, 'servers'>;
  /** Time to open the connection before an `EVENTLANE_BUS_UNREACHABLE` error. @defaultValue 5000 */
  connectTimeoutMs?: number;
  /** Time to wait for each publish acknowledgement. @defaultValue 5000 */
  publishTimeoutMs?: number;
  /**
   * The stream's de-duplication window: a relay republishing after a crash within it is dropped by the server
   * (the event id is the `Nats-Msg-Id`). Must exceed the longest relay outage you want covered. @defaultValue 120000
   */
  duplicateWindowMs?: number;
  /** `'file'` (durable) or `'memory'`. @defaultValue 'file' */
  storage?: 'file' | 'memory';
  /** Stream replicas (clustered servers). @defaultValue 1 */
  replicas?: number;
  /** How long a delivery may stay unacknowledged before redelivery. @defaultValue 30000 */
  ackWaitMs?: number;
  /** Deliveries of one message before the server gives up on it (an advisory is published). @defaultValue 10 */
  maxDeliver?: number;
  /** Redelivery delays after each failed attempt (ms); overrides ackWaitMs for redeliveries. @defaultValue none */
  backoffMs?: number[];
  /**
   * Unacknowledged deliveries in flight per partition (`max_ack_pending`). A worker acknowledges a batch only after
   * its commit, so a window of twice the worker's `batchSize` or more lets the server deliver the next batch while
   * one is applied; keep `maxInFlight` × the time a handler takes below `ackWaitMs`. @defaultValue 1000
   */
  maxInFlight?: number;
  /**
   * Refused messages are published to `<deadLetterSubject>.<consumer>` with headers telling why. Under the
   * default, the subject belongs to the bus's own stream (which takes `<subjectPrefix>.>`) and no partition
   * consumer sees it; a subject outside `<subjectPrefix>.` needs a stream of its own, or the message stays
   * unacknowledged and is refused again after a delay. @defaultValue '<subjectPrefix>.dlq'
   */
  deadLetterSubject?: string;
}

const ms = (n: number): number => n * 1_000_000; // JetStream durations are nanoseconds.

/**
 * NATS JetStream: one stream, one subject per partition, the event id as `Nats-Msg-Id` (server-side
 * de-duplication), durable pull consumers per partition with explicit ack, ack wait, max deliveries and backoff.
 */
/** Bytes of `max_payload` kept for the message headers eventlane sends (`Nats-Msg-Id: <uuid>`). */
const NATS_HEADER_RESERVE = 256;

export function natsBus(options: NatsBusOptions): Bus {
  const servers = typeof options?.servers === 'string' ? [options.servers] : options?.servers;
  if (
    !Array.isArray(servers) ||
    servers.length === 0 ||
    servers.some((s) => typeof s !== 'string' || !/^(nats|tls|wss?):\/\/[^/]+/.test(s) || !parsesAsUrl(s))
  ) {
    const given = Array.isArray(servers) ? `[${redactUrls(servers)}]` : typeof options?.servers;
    throw new InvalidArgumentError(
      `natsBus needs servers such as 'nats://127.0.0.1:4222' (user and password percent-encoded), got ${given}.`,
    );
  }
  const where = redactUrls(servers);
  const streamName = checkName(options.stream ?? 'EVENTLANE', 'stream', /^[A-Za-z0-9_-]{1,64}$/);
  const prefix = checkName(
    options.subjectPrefix ?? 'eventlane',
    'subjectPrefix',
    /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
  );
  const connectTimeoutMs = checkDuration(options.connectTimeoutMs, 'connectTimeoutMs', 5000);
  const publishTimeoutMs = checkDuration(options.publishTimeoutMs, 'publishTimeoutMs', 5000);
  const duplicateWindowMs = checkDuration(options.duplicateWindowMs, 'duplicateWindowMs', 120_000);
  const ackWaitMs = checkDuration(options.ackWaitMs, 'ackWaitMs', 30_000);
  const maxDeliver = checkPositiveInt(options.maxDeliver, 'maxDeliver', 10);
  const replicas = checkPositiveInt(options.replicas, 'replicas', 1);
  const maxInFlight = checkPositiveInt(options.maxInFlight, 'maxInFlight', 1000);
  const deadLetterSubject = checkName(
    options.deadLetterSubject ?? `${prefix}.dlq`,
    'deadLetterSubject',
    /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
  );
  if (new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.p\\d+(\\.|$)`).test(deadLetterSubject)) {
    throw new InvalidArgumentError(
      `deadLetterSubject ${deadLetterSubject} would be read by a partition consumer; choose another, e.g. ${prefix}.dlq.`,
    );
  }
  const deadLetter = options.deadLetter ?? true;
  const intake = createIntake('nats', options);
  const storage = options.storage ?? 'file';
  if (storage !== 'file' && storage !== 'memory') {
    throw new InvalidArgumentError(`storage must be 'file' or 'memory', got ${JSON.stringify(storage)}.`);
  }
  const backoff = options.backoffMs;
  if (backoff !== undefined) {
    backoff.forEach((b, i) => checkDuration(b, `backoffMs[${i}]`, 1));
    if (backoff.length >= maxDeliver) {
      throw new InvalidArgumentError(
        `backoffMs has ${backoff.length} entries; NATS needs fewer than maxDeliver (${maxDeliver}).`,
      );
    }
  }

  let nc: NatsConnection | undefined;
  let js: JetStreamClient | undefined;
  let jsm: JetStreamManager | undefined;
  let publisher: JetStreamPublisher | undefined;
  let partitions = 0;
  let closed = false;
  const subscriptions = new Set<Subscription>();
  const subject = (p: number): string => `${prefix}.p${p}`;
  // max_payload counts the headers too (Nats-Msg-Id and the protocol line): keep room for them.
  const maxMessageBytes = (): number =>
    (nc?.info?.max_payload ?? NATS_DEFAULT_MAX_PAYLOAD) - NATS_HEADER_RESERVE;

  const open = async (): Promise<void> => {
    let conn: NatsConnection;
    try {
      conn = await withTimeout(
        connect({
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          ...options.connection,
          servers,
          timeout: connectTimeoutMs,
        }),
        connectTimeoutMs + 500,
        () => new Error(`no answer within ${connectTimeoutMs} ms`),
      );
    } catch (error) {
      throw connectError(error, where);
    }
    nc = conn;
    js = jetstream(conn, { timeout: publishTimeoutMs });
    try {
      jsm = await jetstreamManager(conn, { timeout: connectTimeoutMs });
    } catch (error) {
      await conn.close().catch(() => undefined);
      nc = undefined;
      throw new BusError(
        ErrorCodes.BUS_UNREACHABLE,
        'nats',
        `NATS at ${where} answered but JetStream is not available (${redactText((error as Error).message)}). ` +
          'Start the server with JetStream enabled (nats-server -js).',
        { cause: error },
      );
    }
  };

  const ensureStream = async (): Promise<void> => {
    const config = {
      name: streamName,
      subjects: [`${prefix}.>`],
      storage: storage === 'file' ? StorageType.File : StorageType.Memory,
      num_replicas: replicas,
      duplicate_window: ms(duplicateWindowMs),
    };
    try {
      await jsm!.streams.info(streamName);
      await jsm!.streams.update(streamName, {
        subjects: config.subjects,
        duplicate_window: config.duplicate_window,
      });
    } catch (error) {
      if (
        (error as { name?: string }).name !== 'StreamNotFoundError' &&
        !/not found/i.test((error as Error).message)
      ) {
        throw error;
      }
      await jsm!.streams.add(config);
    }
  };

  const usable = async (): Promise<{ js: JetStreamClient; jsm: JetStreamManager }> => {
    if (closed)
      throw new BusError(ErrorCodes.BUS_CLOSED, 'nats', 'The NATS bus was closed; create a new one.');
    if (!nc || nc.isClosed()) await open();
    return { js: js!, jsm: jsm! };
  };

  return {
    kind: 'nats',
    /** The server's `max_payload` (known after connect; 1 MiB before) less room for headers. */
    get maxMessageBytes(): number {
      return maxMessageBytes();
    },
    async connect(connectOptions: BusConnectOptions): Promise<void> {
      partitions = connectOptions.partitions;
      await usable();
      try {
        await ensureStream();
      } catch (error) {
        throw new BusError(
          ErrorCodes.BUS_UNREACHABLE,
          'nats',
          `Could not create or update JetStream stream ${streamName} (${(error as Error).message}). ` +
            'Check that its subjects do not overlap another stream and that the account has JetStream resources.',
          { cause: error },
        );
      }
    },

    async publish(messages: readonly BusMessage[]): Promise<void> {
      await usable();
      // The client refuses an oversized publish at once but would fail the whole batch: name the event instead.
      refuseOversized('nats', messages, maxMessageBytes());
      if (!publisher?.serves(nc)) {
        publisher?.close();
        publisher = new JetStreamPublisher(nc!, options.connection?.inboxPrefix);
      }
      // Pipelined: every publish goes out at once on the one connection (so per-subject order is the send order),
      // then all acknowledgements are awaited. A duplicate ack (same Nats-Msg-Id within the window) is a success.
      const results = await publisher.publishAll(
        messages.map((m) => ({
          subject: subject(m.partition),
          data: m.payload ?? encodeCloudEvent(m.event, { partition: m.partition }),
          msgId: m.event.id,
        })),
        publishTimeoutMs,
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        throw new BusError(
          ErrorCodes.BUS_PUBLISH,
          'nats',
          `NATS did not acknowledge ${results.filter((r) => r.status === 'rejected').length} of ${messages.length} ` +
            `messages (${(failed.reason as Error)?.message ?? String(failed.reason)}); they will be published again.`,
          { cause: failed.reason },
        );
      }
    },

    async subscribe(subscribeOptions: SubscribeOptions): Promise<Subscription> {
      const { js, jsm } = await usable();
      const consumer = checkName(subscribeOptions.consumer, 'consumer', /^[A-Za-z0-9_-]{1,100}$/);
      const perPartition = subscribeOptions.maxInFlight ?? maxInFlight;
      const stops: (() => Promise<void>)[] = [];
      const onReject = subscribeOptions.onReject;
      const dlq = deadLetter ? `${deadLetterSubject}.${consumer}` : undefined;
      const consumePartition = async (p: number): Promise<() => Promise<void>> => {
        if (!Number.isInteger(p) || p < 0 || p >= partitions) {
          throw new InvalidArgumentError(
            `Partition ${String(p)} does not exist: this store has partitions 0 to ${partitions - 1}.`,
          );
        }
        const durable = `${consumer}_p${p}`;
        const config: Partial<ConsumerConfig> = {
          durable_name: durable,
          filter_subject: subject(p),
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: ms(ackWaitMs),
          max_deliver: maxDeliver,
          max_ack_pending: perPartition,
          ...(backoff ? { backoff: backoff.map(ms) } : {}),
        };
        try {
          await jsm.consumers.add(streamName, config);
        } catch {
          // It exists with other settings: bring it to these (filter and durable name stay).
          await jsm.consumers.update(streamName, durable, config);
        }
        const open = async () =>
          (await js.consumers.get(streamName, durable)).consume({ max_messages: perPartition });
        let messages = await open();
        let closing = false;
        const take = (m: JsMsg): void => {
          const decoded = intake(m.data, { consumer, partition: p, onReject, deadLetter: dlq });
          if ('rejection' in decoded) {
            // Set aside without holding up the loop: later messages of the partition go on meanwhile.
            void setAside(js, m, dlq, decoded.rejection.reason, decoded.rejection.error.message, consumer, p);
            return;
          }
          const delivery: Delivery = {
            event: decoded.event,
            partition: p,
            attempt: m.info.deliveryCount,
            ack: () => {
              m.ack();
              return Promise.resolve();
            },
            nack: (delayMs = 0) => {
              m.nak(delayMs > 0 ? delayMs : undefined);
              return Promise.resolve();
            },
          };
          // Handlers are called in delivery order and may overlap up to max_ack_pending.
          try {
            subscribeOptions.onMessage(delivery).catch(() => m.nak());
          } catch {
            m.nak();
          }
        };
        const loop = (async () => {
          for (;;) {
            try {
              for await (const m of messages) take(m);
            } catch {
              // The pull ended with an error; consumed again below.
            }
            if (closing) return;
            // The messages ended without close() (a consumer whose leader moved in a cluster failover, say):
            // consume again after a pause, for as long as the subscription stands.
            await new Promise((r) => setTimeout(r, 1000));
            if (closing) return;
            try {
              messages = await open();
            } catch {
              // Not yet (no leader, no connection): the next round tries again.
            }
          }
        })();
        return async () => {
          closing = true;
          await messages.close().catch(() => undefined);
          await loop.catch(() => undefined);
        };
      };
      try {
        for (const p of subscribeOptions.partitions) stops.push(await consumePartition(p));
      } catch (error) {
        // Nothing half-subscribed stays behind: the caller sees the error and subscribes again.
        await Promise.all(stops.map((s) => s()));
        throw error;
      }
      const sub: Subscription = {
        close: async () => {
          subscriptions.delete(sub);
          await Promise.all(stops.map((s) => s()));
        },
      };
      subscriptions.add(sub);
      return sub;
    },

    async close(): Promise<void> {
      closed = true;
      publisher?.close();
      for (const s of [...subscriptions]) await s.close();
      if (nc && !nc.isClosed()) await nc.drain().catch(() => nc?.close());
    },
  };
}
