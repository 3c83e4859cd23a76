import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { SERVICES } from '../../support/services.js';

/** One message found in a broker's dead-letter place. */
export interface DeadLetter {
  reason: string;
  body: Buffer;
}

/**
 * Talks to a broker directly, around the bus: publishes raw bytes where the relay would publish (so the bus under
 * test has to take them), and reads back what the bus moved to its dead-letter place.
 */
export interface RawBroker {
  /** Publishes `body` to partition `p` and resolves once the broker holds it (so order is the call order). */
  publish(p: number, body: Buffer | string): Promise<void>;
  deadLetters(consumer: string): Promise<DeadLetter[]>;
  close(): Promise<void>;
}

export async function natsRaw(id: string): Promise<RawBroker> {
  const nc = await natsConnect({ servers: SERVICES.nats.url });
  const js = jetstream(nc);
  return {
    async publish(p, body) {
      await js.publish(`${id}.p${p}`, typeof body === 'string' ? body : new Uint8Array(body));
    },
    async deadLetters(consumer) {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(id, { subjects_filter: `${id}.dlq.${consumer}` });
      const count = info.state.subjects?.[`${id}.dlq.${consumer}`] ?? 0;
      if (count === 0) return [];
      const oc = await js.consumers.get(id, { filter_subjects: `${id}.dlq.${consumer}` });
      const found: DeadLetter[] = [];
      const iter = await oc.fetch({ max_messages: count, expires: 5000 });
      for await (const m of iter) {
        found.push({ reason: m.headers?.get('Eventlane-Reject-Reason') ?? '', body: Buffer.from(m.data) });
        if (found.length === count) break;
      }
      await oc.delete().catch(() => undefined);
      return found;
    },
    async close() {
      await nc.close();
    },
  };
}

export async function rabbitmqRaw(id: string): Promise<RawBroker> {
  const conn = await amqp.connect(SERVICES.rabbitmq.url);
  const ch = await conn.createConfirmChannel();
  const seen: DeadLetter[] = [];
  return {
    async publish(p, body) {
      await new Promise<void>((resolve, reject) => {
        ch.publish(id, `p${p}`, Buffer.from(body), { persistent: true }, (err: unknown) =>
          err ? reject(err instanceof Error ? err : new Error('nack')) : resolve(),
        );
      });
    },
    async deadLetters(consumer) {
      // basic.get takes the message away: keep what was read, so repeated calls see all of it.
      for (;;) {
        const m = await ch.get(`${id}.${consumer}.dead`, { noAck: true });
        if (!m) break;
        const headers = (m.properties.headers ?? {}) as Record<string, unknown>;
        const reason = headers['x-eventlane-reject-reason'];
        seen.push({ reason: typeof reason === 'string' ? reason : '', body: m.content });
      }
      return [...seen];
    },
    async close() {
      await conn.close().catch(() => undefined);
    },
  };
}

export async function redisRaw(id: string): Promise<RawBroker & { redis: Redis }> {
  const r = new Redis(SERVICES.redis.url);
  await r.ping();
  return {
    redis: r,
    async publish(p, body) {
      await r.xadd(`${id}:p${p}`, '*', 'id', 'raw', 'ce', body);
    },
    async deadLetters(consumer) {
      const entries = await r.xrangeBuffer(`${id}:dead:${consumer}`, '-', '+');
      return entries.map(([, fields]) => {
        const get = (name: string): Buffer | undefined => {
          for (let i = 0; i + 1 < fields.length; i += 2)
            if (fields[i]!.toString() === name) return fields[i + 1];
          return undefined;
        };
        return { reason: get('reason')?.toString() ?? '', body: get('ce') ?? Buffer.alloc(0) };
      });
    },
    close() {
      r.disconnect();
      return Promise.resolve();
    },
  };
}
