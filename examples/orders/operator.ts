/**
 * The operator's part: a payment is parked (the customer's card network is down), the rest of its order's stream
 * waits behind it; the operator looks at it through the admin API, fixes the cause, and retries it over HTTP.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { parkedEvents, type Worker } from '../../src/index.js';
import { startOpsServer } from '../../src/ops/index.js';
import type { Runtime } from './runtime.js';
import { say } from './summary.js';
import { waitFor } from './checks.js';

const ParkedList = z.array(
  z.object({
    id: z.string(),
    consumer: z.string(),
    stream: z.string(),
    streamPosition: z.number(),
    eventType: z.string(),
    status: z.string(),
    error: z.string(),
    attempts: z.number(),
  }),
);
const Retried = z.object({ id: z.string(), status: z.string() });

export interface Redrive {
  parked: number;
  redriven: number;
  left: number;
  /** The stream's later event (the refund) went through after the retry, in order. */
  followed: boolean;
}

export async function redriveParked(rt: Runtime, worker: Worker, order: string): Promise<Redrive> {
  const admin = parkedEvents(rt.store);
  await waitFor(
    'the poison payment to be parked',
    async () => (await admin.list({ consumer: 'payment-capture' })).length > 0,
  );
  const token = randomBytes(16).toString('hex');
  const ops = await startOpsServer({
    store: rt.store,
    token: { 'demo-operator': token },
    port: 0,
    registries: [worker.metrics],
    consumers: rt.consumers({ summary: 1, balanceWithRefunds: false }),
  });
  try {
    const call = async (path: string, method = 'GET'): Promise<unknown> => {
      const res = await fetch(`${ops.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return res.json();
    };
    const parked = ParkedList.parse(await call('/api/parked?consumer=payment-capture'));
    for (const p of parked) {
      say(
        `parked: ${p.consumer} ${p.eventType} of ${p.stream}#${p.streamPosition} after ${p.attempts} attempts: ${p.error}`,
      );
    }
    const waiting = !rt.gateway.refundedOrders.has(order);
    say(`  ${order}'s refund waits behind it: ${waiting ? 'yes' : 'no'}; every other order went on`);
    rt.gateway.unblock('mallory');
    say('  the operator fixes the card network and retries it: POST /api/parked/:id/retry (bearer token)');
    let redriven = 0;
    for (const p of parked) {
      const r = Retried.parse(await call(`/api/parked/${p.id}/retry`, 'POST'));
      if (r.status === 'retrying') redriven++;
    }
    await waitFor(`${order} to be captured and refunded`, async () => {
      const left = await admin.list({ consumer: 'payment-capture', status: ['parked', 'retrying'] });
      return left.length === 0 && rt.gateway.refundedOrders.has(order);
    });
    const left = (await admin.list({ consumer: 'payment-capture' })).length;
    say(`  redriven: ${redriven}; ${order} captured, then refunded, in order; parked now: ${left}`);
    return {
      parked: parked.length,
      redriven,
      left,
      followed: waiting && rt.gateway.refundedOrders.has(order),
    };
  } finally {
    await ops.close();
  }
}
