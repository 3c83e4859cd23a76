/**
 * `npm run bench -- relay [--json] [--events N] [--latency-seconds S] [--buses embedded,nats,rabbitmq,redis,nats-r3]`
 *
 * relay-<bus>: a relay publishes N committed events (default 200,000 over 1,000 streams, appended beforehand) from
 * PostgreSQL to the bus; eventsPerSec counts from start until its checkpoint reaches the end of the log.
 * vsRaw is that rate over the same client library publishing the same CloudEvents payloads (encoded beforehand)
 * straight to the broker, in acknowledged, pipelined batches of the relay's batch size (2 in flight, as the relay),
 * in the same run: the mean of one raw run before and one after the relay; rawSpread is their difference over the
 * mean (a large spread says the machine's load changed under the measurement). For NATS the raw side publishes plain
 * messages whose acknowledgements come back to one inbox (src/bus/nats/publish.ts), the cheapest acknowledged
 * publish known; the client's `js.publish` (a request per message) was slower than the relay itself.
 * latency-<bus>: appends single events at a steady 1,000 events/s for S seconds (default 10) with a relay running
 * and a subscriber on the bus; p50Ms/p99Ms from the append's commit to the subscriber's handler.
 * relay-nats-r3: the relay to an R3 stream (file storage) on a three-node NATS cluster started for the run from the
 * machine's nats-server, with vsR1 = that rate over the same relay to an R1 stream on the same cluster.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import pg from 'pg';
import { encodeCloudEvent } from '../src/bus/cloudevents.js';
import { embeddedBus } from '../src/bus/embedded/index.js';
import { natsBus } from '../src/bus/nats/index.js';
import { JetStreamPublisher } from '../src/bus/nats/publish.js';
import { natsServerAvailable, startNatsCluster } from '../test/support/nats-cluster.js';
import { partitionOf } from '../src/bus/partition.js';
import { rabbitmqBus } from '../src/bus/rabbitmq/index.js';
import { redisBus } from '../src/bus/redis/index.js';
import type { Bus, BusMessage } from '../src/bus/types.js';
import { createEventStore, type EventStore, type StoredEvent } from '../src/index.js';
import { createRelay } from '../src/relay/relay.js';
import { percentile, round, rssMb, type Reporter } from './report.js';

const PG = process.env.EVENTLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NATS = process.env.EVENTLANE_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const AMQP = process.env.EVENTLANE_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const REDIS = process.env.EVENTLANE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const BATCH = 1000;
const P = 16;

type BusName = 'embedded' | 'nats' | 'rabbitmq' | 'redis';

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
}

const runId = `b${Date.now().toString(36)}`;

function makeBus(name: BusName, id: string, consumers: string[] = []): Bus {
  switch (name) {
    case 'embedded':
      return embeddedBus();
    case 'nats':
      return natsBus({ servers: NATS, stream: id, subjectPrefix: id });
    case 'rabbitmq':
      return rabbitmqBus({ url: AMQP, exchange: id, consumers });
    case 'redis':
      return redisBus({ url: REDIS, keyPrefix: id });
  }
}

async function cleanup(name: BusName, id: string, consumers: string[] = []): Promise<void> {
  if (name === 'nats') {
    const nc = await natsConnect({ servers: NATS });
    await (await jetstreamManager(nc)).streams.delete(id).catch(() => undefined);
    await nc.close();
  } else if (name === 'rabbitmq') {
    const conn = await amqp.connect(AMQP);
    const ch = await conn.createChannel();
    for (const c of consumers) {
      for (let p = 0; p < P; p++) await ch.deleteQueue(`${id}.${c}.p${p}`).catch(() => undefined);
      await ch.deleteQueue(`${id}.${c}.dead`).catch(() => undefined);
    }
    await ch.deleteQueue(`${id}.raw`).catch(() => undefined);
    await ch.deleteExchange(id).catch(() => undefined);
    await ch.deleteExchange(`${id}.dead`).catch(() => undefined);
    await conn.close();
  } else if (name === 'redis') {
    const r = new Redis(REDIS);
    await r.del(...Array.from({ length: P }, (_, p) => `${id}:p${p}`));
    r.disconnect();
  }
}

interface Payload {
  partition: number;
  id: string;
  body: string;
  event: StoredEvent;
}

/** An embedded bus with one subscriber that acknowledges everything, so "published" means "handed over". */
async function ackingEmbeddedBus(): Promise<Bus> {
  const bus = embeddedBus();
  await bus.connect({ partitions: P });
  await bus.subscribe({
    consumer: 'bench',
    partitions: Array.from({ length: P }, (_, i) => i),
    onMessage: (d) => d.ack(),
  });
  return bus;
}

/**
 * Publishes in batches of BATCH with up to WINDOW batches awaiting acknowledgement, as the relay does by default
 * (maxBatchesInFlight 2): the ceiling must pipeline exactly as much as the relay may.
 */
const WINDOW = 2;
async function windowed(payloads: Payload[], send: (batch: Payload[]) => Promise<void>): Promise<void> {
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < payloads.length; i += BATCH) {
    inFlight.push(send(payloads.slice(i, i + BATCH)));
    if (inFlight.length >= WINDOW) await inFlight.shift();
  }
  await Promise.all(inFlight);
}

/** The raw ceiling: the client library alone, publishing pre-encoded payloads in acknowledged batches. */
async function rawPublish(name: BusName, id: string, payloads: Payload[]): Promise<number> {
  const t0 = performance.now();
  if (name === 'embedded') {
    const bus = await ackingEmbeddedBus();
    const messages: BusMessage[] = payloads.map((m) => ({ event: m.event, partition: m.partition }));
    for (let i = 0; i < messages.length; i += BATCH) await bus.publish(messages.slice(i, i + BATCH));
    // (synchronous hand-over: a window changes nothing here)
    await bus.close();
  } else if (name === 'nats') {
    const nc = await natsConnect({ servers: NATS });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: id, subjects: [`${id}.>`] });
    // Plain publishes with the acknowledgements to one inbox: cheaper than the client's `js.publish` (a request per
    // message), which the relay's own publishing outran; the ceiling is the cheapest acknowledged publish known.
    const publisher = new JetStreamPublisher(nc);
    const start = performance.now();
    await windowed(payloads, async (batch) => {
      const results = await publisher.publishAll(
        batch.map((m) => ({ subject: `${id}.p${m.partition}`, data: m.body, msgId: m.id })),
        30_000,
      );
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    });
    publisher.close();
    const elapsed = performance.now() - start;
    await jsm.streams.delete(id);
    await nc.close();
    return elapsed;
  } else if (name === 'rabbitmq') {
    const conn = await amqp.connect(AMQP);
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange(id, 'direct', { durable: true });
    await ch.assertQueue(`${id}.raw`, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (let p = 0; p < P; p++) await ch.bindQueue(`${id}.raw`, id, `p${p}`);
    const start = performance.now();
    await windowed(payloads, async (batch) => {
      const confirms: Promise<void>[] = [];
      for (const m of batch) {
        let writable = true;
        confirms.push(
          new Promise<void>((resolve, reject) => {
            writable = ch.publish(
              id,
              `p${m.partition}`,
              Buffer.from(m.body),
              { persistent: true, mandatory: true, messageId: m.id },
              (err: unknown) => (err ? reject(new Error('nack')) : resolve()),
            );
          }),
        );
        if (!writable) await new Promise((r) => ch.once('drain', r));
      }
      await Promise.all(confirms);
    });
    const elapsed = performance.now() - start;
    await ch.deleteQueue(`${id}.raw`);
    await ch.deleteExchange(id);
    await conn.close();
    return elapsed;
  } else {
    const r = new Redis(REDIS);
    const start = performance.now();
    await windowed(payloads, async (batch) => {
      const pipe = r.pipeline();
      for (const m of batch) pipe.xadd(`${id}:p${m.partition}`, '*', 'id', m.id, 'ce', m.body);
      await pipe.exec();
    });
    const elapsed = performance.now() - start;
    await r.del(...Array.from({ length: P }, (_, p) => `${id}:p${p}`));
    r.disconnect();
    return elapsed;
  }
  return performance.now() - t0;
}

async function fillStore(store: EventStore, events: number): Promise<void> {
  const streams = 1000;
  const per = Math.ceil(events / streams);
  const batch = 100;
  const jobs: { stream: string; n: number }[] = [];
  for (let round = 0; round < per; round += batch) {
    for (let s = 0; s < streams; s++) jobs.push({ stream: `order-${s}`, n: Math.min(batch, per - round) });
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        await store.append(
          job.stream,
          Array.from({ length: job.n }, (_, k) => ({
            type: 'order.noted',
            data: { sku: 'SKU-12345', quantity: k, price: 19.99, note: 'benchmark event' },
            metadata: { correlationId: `c-${job.stream}` },
          })),
        );
      }
    }),
  );
}

async function throughput(
  store: EventStore,
  name: BusName,
  payloads: Payload[],
  reporter: Reporter,
): Promise<void> {
  const id = `${runId}${name}`;
  // The raw ceiling runs before and after the relay and the two are averaged: on a shared machine the load drifts
  // within a run, and one raw run on either side would tilt the ratio.
  const rawBefore = payloads.length / ((await rawPublish(name, `${id}raw1`, payloads)) / 1000);
  const bus = name === 'embedded' ? await ackingEmbeddedBus() : makeBus(name, id, []);
  if (name === 'rabbitmq') {
    // A queue must be bound for the relay's mandatory publishes to route; one queue for all partitions, as raw.
    const conn = await amqp.connect(AMQP);
    const ch = await conn.createChannel();
    await ch.assertExchange(id, 'direct', { durable: true });
    await ch.assertQueue(`${id}.raw`, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (let p = 0; p < P; p++) await ch.bindQueue(`${id}.raw`, id, `p${p}`);
    await conn.close();
  }
  const relay = createRelay(store, { bus, name: `bench-${name}`, batchSize: BATCH, registry: null });
  const t0 = performance.now();
  await relay.start();
  await relay.caughtUp(600_000);
  const ms = performance.now() - t0;
  await relay.stop();
  await bus.close();
  await cleanup(name, id, []);
  const rate = payloads.length / (ms / 1000);
  const rawAfter = payloads.length / ((await rawPublish(name, `${id}raw2`, payloads)) / 1000);
  const rawRate = (rawBefore + rawAfter) / 2;
  reporter.add({
    scenario: `relay-${name}`,
    events: payloads.length,
    eventsPerSec: Math.round(rate),
    rawEventsPerSec: Math.round(rawRate),
    rawSpread: round(Math.abs(rawBefore - rawAfter) / rawRate),
    vsRaw: round(rate / rawRate),
    rssMb: rssMb(),
  });
}

/**
 * `relay-nats-r3`: the relay to a stream replicated on three clustered NATS nodes (R3: a publish is acknowledged once
 * a majority stored it), against the same relay to an R1 stream on the same cluster in the same run (`vsR1`).
 */
async function clusterThroughput(store: EventStore, events: number, reporter: Reporter): Promise<void> {
  if (!natsServerAvailable()) {
    process.stderr.write('  relay-nats-r3 skipped: no nats-server binary on this machine\n');
    return;
  }
  process.stderr.write('  starting a three-node NATS cluster…\n');
  const cluster = await startNatsCluster('bench');
  try {
    const rate: Record<number, number> = {};
    for (const replicas of [1, 3]) {
      const id = `${runId}r${replicas}`;
      const bus = natsBus({ servers: cluster.urls, stream: id, subjectPrefix: id, replicas });
      const relay = createRelay(store, { bus, name: `bench-r${replicas}`, batchSize: BATCH, registry: null });
      const t0 = performance.now();
      await relay.start();
      await relay.caughtUp(600_000);
      rate[replicas] = events / ((performance.now() - t0) / 1000);
      await relay.stop();
      await bus.close();
    }
    reporter.add({
      scenario: 'relay-nats-r3',
      events,
      eventsPerSec: Math.round(rate[3]!),
      r1EventsPerSec: Math.round(rate[1]!),
      vsR1: round(rate[3]! / rate[1]!),
      rssMb: rssMb(),
    });
  } finally {
    await cluster.stop();
  }
}

async function latency(name: BusName, seconds: number, reporter: Reporter): Promise<void> {
  const store = await createEventStore({
    url: PG,
    schema: `bench_relay_lat_${name}_${Date.now().toString(36)}`,
  });
  const id = `${runId}lat${name}`;
  const consumers = ['lat'];
  const committedAt = new Map<string, number>();
  const arrivedAt = new Map<string, number>();
  const sub = makeBus(name, id, consumers);
  const bus = name === 'embedded' ? sub : makeBus(name, id, consumers);
  await sub.connect({ partitions: P });
  await sub.subscribe({
    consumer: 'lat',
    partitions: Array.from({ length: P }, (_, i) => i),
    onMessage: async (d) => {
      if (!arrivedAt.has(d.event.id)) arrivedAt.set(d.event.id, performance.now());
      await d.ack();
    },
  });
  const relay = createRelay(store, { bus, name: 'latency', registry: null });
  await relay.start();
  await new Promise((r) => setTimeout(r, 300));
  const total = seconds * 1000;
  const start = performance.now();
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < total; i++) {
    const due = start + i; // one event per millisecond
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const p = store
      .append(`order-${i % 500}`, [{ type: 'order.noted', data: { i } }])
      .then((r) => {
        committedAt.set(r.ids[0]!, performance.now());
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size > 64) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const achieved = total / ((performance.now() - start) / 1000);
  const deadline = Date.now() + 30_000;
  while (arrivedAt.size < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const latencies: number[] = [];
  for (const [eid, c] of committedAt) {
    const a = arrivedAt.get(eid);
    // The handler may run before the appending client hears "committed": count that as 0, not negative.
    if (a !== undefined) latencies.push(Math.max(0, a - c));
  }
  await relay.stop();
  if (bus !== sub) await bus.close();
  await sub.close();
  await cleanup(name, id, consumers);
  await store.executor.query(`drop schema "${store.schema}" cascade`);
  await store.close();
  reporter.add({
    scenario: `latency-${name}`,
    events: total,
    received: arrivedAt.size,
    targetPerSec: 1000,
    achievedPerSec: Math.round(achieved),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(Math.max(...latencies)),
  });
}

export async function run(args: string[], reporter: Reporter): Promise<void> {
  const events = Number(arg(args, 'events', '200000'));
  const seconds = Number(arg(args, 'latency-seconds', '10'));
  const asked = arg(args, 'buses', 'embedded,nats,rabbitmq,redis,nats-r3').split(',');
  const buses = asked.filter((b) => b !== 'nats-r3') as BusName[];
  const store = await createEventStore({
    url: PG,
    schema: `bench_relay_${Date.now().toString(36)}`,
    poolSize: 10,
  });
  try {
    process.stderr.write(`  appending ${events} events…\n`);
    await fillStore(store, events);
    process.stderr.write('  encoding payloads for the raw runs…\n');
    const payloads: Payload[] = [];
    // Read until every appended event is in: a page comes back short while any transaction of the cluster that is
    // older than ours still runs (commit-order visibility), so "a short page" does not mean "the end".
    const [{ n }] = (await store.executor.query<{ n: string }>(
      `select count(*) as n from "${store.schema}".events`,
    )) as [{ n: string }];
    let after = '0:0';
    while (payloads.length < Number(n)) {
      const page = await store.readLog({ after, limit: 5000 });
      if (page.events.length === 0) await new Promise((r) => setTimeout(r, 10));
      for (const e of page.events) {
        const partition = partitionOf(e.stream, P);
        payloads.push({ partition, id: e.id, body: encodeCloudEvent(e, { partition }), event: e });
      }
      after = page.checkpoint;
    }
    for (const name of buses) await throughput(store, name, payloads, reporter);
    if (asked.includes('nats-r3')) await clusterThroughput(store, payloads.length, reporter);
  } finally {
    const c = new pg.Client({ connectionString: PG });
    await c.connect();
    await c.query(`drop schema if exists "${store.schema}" cascade`);
    await c.end();
    await store.close();
  }
  for (const name of buses) await latency(name, seconds, reporter);
}
