import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { embeddedBus } from '../../../src/bus/embedded/index.js';
import { natsBus } from '../../../src/bus/nats/index.js';
import { rabbitmqBus } from '../../../src/bus/rabbitmq/index.js';
import { redisBus } from '../../../src/bus/redis/index.js';
import type { Bus } from '../../../src/bus/types.js';
import type { EventStore, StoredEvent } from '../../../src/index.js';
import { SERVICES } from '../../support/services.js';

export type BusName = 'nats' | 'rabbitmq' | 'redis' | 'embedded';

/** Host and port of a service URL, so tests can put a TCP proxy in front of it. */
export function hostPort(url: string, fallback: number): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: u.port ? Number(u.port) : fallback };
}

/** A fresh id for broker resources, so parallel test files never share a stream, queue or key. */
export function uniqueBusId(): string {
  return `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

const PARTITIONS = 16;

/**
 * Builds the bus `name` on resources named after `id`, optionally through another host:port (a test proxy).
 * `consumers` are the consumer names the test subscribes (RabbitMQ declares their queues at connect).
 */
export function makeBus(
  name: BusName,
  id: string,
  via?: { port: number },
  consumers: string[] = ['sub'],
): Bus {
  const swap = (url: string): string => {
    if (!via) return url;
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(via.port);
    return u.toString().replace(/\/$/, '');
  };
  switch (name) {
    case 'nats':
      return natsBus({
        servers: swap(SERVICES.nats.url),
        stream: id,
        subjectPrefix: id,
        publishTimeoutMs: 3000,
      });
    case 'rabbitmq':
      return rabbitmqBus({ url: swap(SERVICES.rabbitmq.url), exchange: id, consumers });
    case 'redis':
      return redisBus({ url: swap(SERVICES.redis.url), keyPrefix: id, claimIdleMs: 5000 });
    case 'embedded':
      return embeddedBus();
  }
}

/** Deletes what a test created on the broker. */
export async function cleanupBus(name: BusName, id: string, consumers: string[] = ['sub']): Promise<void> {
  switch (name) {
    case 'nats': {
      const nc = await natsConnect({ servers: SERVICES.nats.url });
      try {
        const jsm = await jetstreamManager(nc);
        await jsm.streams.delete(id).catch(() => undefined);
      } finally {
        await nc.close();
      }
      return;
    }
    case 'rabbitmq': {
      const conn = await amqp.connect(SERVICES.rabbitmq.url);
      try {
        const ch = await conn.createChannel();
        for (const c of consumers) {
          for (let p = 0; p < PARTITIONS; p++)
            await ch.deleteQueue(`${id}.${c}.p${p}`).catch(() => undefined);
          await ch.deleteQueue(`${id}.${c}.dead`).catch(() => undefined);
        }
        await ch.deleteExchange(id).catch(() => undefined);
        await ch.deleteExchange(`${id}.dead`).catch(() => undefined);
      } finally {
        await conn.close().catch(() => undefined);
      }
      return;
    }
    case 'redis': {
      const r = new Redis(SERVICES.redis.url);
      try {
        const keys = [
          ...Array.from({ length: PARTITIONS }, (_, p) => `${id}:p${p}`),
          ...consumers.map((c) => `${id}:dead:${c}`),
        ];
        await r.del(...keys);
      } finally {
        r.disconnect();
      }
      return;
    }
    case 'embedded':
      return;
  }
}

export const BUS_SERVICE: Record<BusName, 'nats' | 'rabbitmq' | 'redis' | undefined> = {
  nats: 'nats',
  rabbitmq: 'rabbitmq',
  redis: 'redis',
  embedded: undefined,
};

/**
 * Every event of the store in commit order. Not `iterateLog`: it stops at the first short page, and a page is also
 * short while any older transaction of the (shared) cluster still runs.
 */
export async function readWholeLog(store: EventStore): Promise<StoredEvent[]> {
  const [row] = await store.executor.query<{ n: string }>(
    `select count(*) as n from "${store.schema}".events`,
  );
  const total = Number(row?.n ?? 0);
  const events: StoredEvent[] = [];
  let after = '0:0';
  for (let idle = 0; events.length < total && idle < 1000;) {
    const page = await store.readLog({ after, limit: 5000 });
    if (page.events.length === 0) {
      idle++;
      await new Promise((r) => setTimeout(r, 10));
    }
    events.push(...page.events);
    after = page.checkpoint;
  }
  return events;
}
