import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createReplay,
  defineReactor,
  type EventStore,
  type Replay,
  type StartOptions,
} from '../../src/index.js';
import { pgAvailable } from '../support/stores.js';
import { scaled } from '../support/time.js';
import { appendOrders, closeStore, openStore, settle, startEndpoint } from './helpers.js';

/** 10,000 events and 7,500 HTTP calls: minutes on a loaded 2-core machine, seconds on a quiet one. */
const LONG = scaled(300_000);

describe.skipIf(!pgAvailable())('reactor dry runs and live replays (PostgreSQL)', () => {
  let store: EventStore;
  let endpoint: Awaited<ReturnType<typeof startEndpoint>>;
  let replay: Replay;
  /** Starts a job and waits for its end. */
  const runJob = async (options: StartOptions) =>
    replay.wait((await replay.start(options)).id, { timeoutMs: LONG });

  beforeAll(async () => {
    store = await openStore();
    endpoint = await startEndpoint();
    await appendOrders(store, 10_000, 100, 4);
    await settle(store);
    const notify = defineReactor({
      name: 'payment_notifier',
      handlers: {
        'order.paid': async (e, { effect }) => {
          await effect('notify', async (key) => {
            const res = await fetch(endpoint.url, {
              method: 'POST',
              headers: { 'idempotency-key': key },
              body: JSON.stringify({ id: e.id }),
            });
            return { status: res.status };
          });
        },
      },
    });
    replay = createReplay(store, { consumers: [notify], pageSize: 1000, previewThreshold: 5000 });
  });
  afterAll(async () => {
    await replay.stop();
    endpoint.server.close();
    await closeStore(store);
  });

  it(
    'a dry run over 10,000 events performs nothing, and its report matches what a live run then performs',
    { timeout: LONG },
    async () => {
      const plan = await replay.plan({ kind: 'dry-run', consumer: 'payment_notifier' });
      expect(plan.events).toBe(10_000);
      expect(plan.effects!.notify!.count).toBe(7500);
      await expect(replay.start({ kind: 'dry-run', consumer: 'payment_notifier' })).rejects.toMatchObject({
        code: 'EVENTLANE_REPLAY_PREVIEW_REQUIRED',
      });
      const dry = await runJob({
        kind: 'dry-run',
        consumer: 'payment_notifier',
        previewToken: plan.previewToken,
      });
      expect(dry.state).toBe('completed');
      expect(endpoint.calls.size).toBe(0);
      const report = dry.report.effects.notify!;
      expect(report).toMatchObject({ count: 7500, alreadyPerformed: 0, ran: 0 });
      expect(report.samples).toHaveLength(5);
      expect(report.samples[0]!.idempotencyKey).toBe(`payment_notifier:${report.samples[0]!.eventId}:notify`);

      // Half of it live first: a fixed end in the middle of the log.
      const [middle] = await store.executor.query<{ cp: string }>(
        `select tx_order::text || ':' || global_position as cp from "${store.schema}".events
        order by tx_order, global_position offset 4999 limit 1`,
      );
      const half = await runJob({
        kind: 'reactor-replay',
        consumer: 'payment_notifier',
        allowEffects: true,
        to: middle!.cp,
        concurrency: 4,
      });
      expect(half.state).toBe('completed');
      expect(half.report.effects.notify).toMatchObject({ count: 3750, ran: 3750, alreadyPerformed: 0 });
      expect(endpoint.calls.size).toBe(3750);

      const dry2 = await runJob({
        kind: 'dry-run',
        consumer: 'payment_notifier',
        previewToken: plan.previewToken,
      });
      expect(dry2.report.effects.notify).toMatchObject({ count: 7500, alreadyPerformed: 3750 });

      const livePlan = await replay.plan({
        kind: 'reactor-replay',
        consumer: 'payment_notifier',
        allowEffects: true,
      });
      const live = await runJob({
        kind: 'reactor-replay',
        consumer: 'payment_notifier',
        allowEffects: true,
        concurrency: 4,
        previewToken: livePlan.previewToken,
      });
      // Exactly the other half ran; the endpoint saw each key once.
      expect(live.report.effects.notify).toMatchObject({ count: 7500, ran: 3750, alreadyPerformed: 3750 });
      expect(endpoint.calls.size).toBe(report.count);
      expect([...endpoint.calls.values()].every((n) => n === 1)).toBe(true);

      // All performed before: a live replay performs none again.
      const again = await runJob({
        kind: 'reactor-replay',
        consumer: 'payment_notifier',
        allowEffects: true,
        previewToken: livePlan.previewToken,
      });
      expect(again.report.effects.notify).toMatchObject({ count: 7500, ran: 0, alreadyPerformed: 7500 });
      expect([...endpoint.calls.values()].every((n) => n === 1)).toBe(true);
    },
  );
});
