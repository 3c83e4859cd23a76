/**
 * The moving parts of the orders system: the relay (the outbox publisher), and the worker that runs the read
 * models and reactors. Each `deploy` is a release of the consumers: a bug fix, a new read-model version.
 */
import {
  createRelay,
  createWorker,
  type Bus,
  type ConsumerDefinition,
  type Relay,
  type Worker,
} from '../../src/index.js';
import { orderSearch, orderSummary, paymentCapture, receiptMailer, userBalance } from './consumers.js';
import type { PaymentGateway } from './payments.js';
import type { DemoConfig, OrdersStore } from './setup.js';

export interface Release {
  /** The version of the order_summary read model. */
  summary: 1 | 2 | 3;
  /** Whether user_balance handles refunds (the bug fix). */
  balanceWithRefunds: boolean;
}

export interface Runtime {
  readonly store: OrdersStore;
  readonly config: DemoConfig;
  /** The quoted schema of the service's table and the read models. */
  readonly rm: string;
  readonly mailUrl: string;
  readonly gateway: PaymentGateway;
  readonly relay: Relay;
  readonly transport: 'log' | 'nats';
  /** Errors the background loops reported (failed attempts are retried; kept for the summary). */
  readonly errors: string[];
  consumers(release: Release): ConsumerDefinition[];
  /** Starts a worker running `release`. `crashable`: its stop abandons work in flight, as a killed process would. */
  deploy(release: Release, workerId: string, crashable?: boolean): Promise<Worker>;
  close(): Promise<void>;
}

async function natsParts(natsUrl: string, schema: string) {
  const { natsBus } = await import('../../src/bus/nats/index.js');
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const stream = `ORDERS_DEMO_${schema.toUpperCase()}`;
  const dropStream = async () => {
    const nc = await connect({ servers: natsUrl });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(stream).catch(() => undefined);
    } finally {
      await nc.close();
    }
  };
  await dropStream(); // a run starts from a fresh log, so from a fresh stream
  const bus = (): Bus =>
    natsBus({
      servers: natsUrl,
      stream,
      subjectPrefix: `orders_demo.${schema}`,
      storage: 'memory',
      ackWaitMs: 2000,
      maxDeliver: 1000,
    });
  return { bus, dropStream };
}

export async function startRuntime(
  store: OrdersStore,
  config: DemoConfig,
  rm: string,
  mailUrl: string,
  gateway: PaymentGateway,
): Promise<Runtime> {
  const nats = config.natsUrl === undefined ? undefined : await natsParts(config.natsUrl, config.schema);
  const errors: string[] = [];
  const relay = createRelay(store, {
    ...(nats && { bus: nats.bus() }),
    name: 'orders-outbox',
    registry: null,
    pollIntervalMs: 100,
    onError: (e) => errors.push(`relay: ${String(e)}`),
  });
  await relay.start();
  const consumers = (r: Release): ConsumerDefinition[] => [
    orderSummary(r.summary),
    userBalance(rm, r.balanceWithRefunds),
    orderSearch(rm),
    receiptMailer(mailUrl),
    paymentCapture(gateway),
  ];
  return {
    store,
    config,
    rm,
    mailUrl,
    gateway,
    relay,
    transport: nats ? 'nats' : 'log',
    errors,
    consumers,
    async deploy(release, workerId, crashable = false) {
      const worker = createWorker(store, {
        from: nats ? nats.bus() : 'log',
        consumers: consumers(release),
        group: 'orders',
        workerId,
        pollIntervalMs: 20,
        leaseTtlMs: 1500,
        heartbeatMs: 300,
        parkedPollMs: 200,
        // A killed process does not wait for its work in flight; a graceful one does.
        stopTimeoutMs: crashable ? 1 : 10_000,
        // Payments fail now and then and are retried; the poison event is parked after its fourth attempt.
        retry: { maxAttempts: 4, baseDelayMs: 20, maxDelayMs: 200 },
        breaker: { threshold: 100_000 },
        projections: { schema: config.schema, pageSize: 1000, switchLag: 200 },
        onError: (e) => {
          if (errors.length < 10_000) errors.push(`${workerId}: ${e.message}`);
        },
      });
      await worker.start();
      return worker;
    },
    async close() {
      await relay.stop();
      await nats?.dropStream();
    },
  };
}
