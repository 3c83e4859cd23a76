/**
 * A relay in a process of its own, for the crash tests: the parent kills it with SIGKILL and starts another.
 * Environment: SCHEMA, BUS (nats|rabbitmq|redis), BUS_ID, RELAY_NAME, LEASE_MS.
 * Prints `READY` once started, `LEADER` when it holds the lease, and after every acknowledged batch
 * `PUBLISHED <count> <first event id> <last event id>` so the parent can see who published what.
 */
import { createEventStore } from '../../../src/index.js';
import type { Bus } from '../../../src/bus/types.js';
import { createRelay } from '../../../src/relay/relay.js';
import { SERVICES } from '../../support/services.js';
import { exitWithParent, stopOnSignal } from '../../support/child-guard.js';
import { makeBus, type BusName } from './buses.js';

exitWithParent();

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`missing ${k}`);
  return v;
};

const store = await createEventStore({
  url: SERVICES.postgres.url,
  schema: env('SCHEMA'),
  migrate: false,
  poolSize: 3,
});
const inner = makeBus(env('BUS') as BusName, env('BUS_ID'));
const bus: Bus = {
  kind: inner.kind,
  connect: (o) => inner.connect(o),
  subscribe: (o) => inner.subscribe(o),
  close: () => inner.close(),
  async publish(messages) {
    await inner.publish(messages);
    const first = messages[0]!.event.id;
    const last = messages[messages.length - 1]!.event.id;
    process.stdout.write(`PUBLISHED ${messages.length} ${first} ${last}\n`);
  },
};
const relay = createRelay(store, {
  bus,
  name: env('RELAY_NAME'),
  batchSize: Number(process.env.BATCH_SIZE ?? 500),
  leaseMs: Number(process.env.LEASE_MS ?? 2000),
  standbyPollMs: 200,
  registry: null,
});
await relay.start();
process.stdout.write('READY\n');
let leader = false;
setInterval(() => {
  if (relay.isLeader() !== leader) {
    leader = relay.isLeader();
    process.stdout.write(leader ? 'LEADER\n' : 'STANDBY\n');
  }
}, 20);
stopOnSignal(() => relay.stop().then(() => store.close()), 8000);
