import { randomBytes } from 'node:crypto';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createRelay,
  createWorker,
  defineProjection,
  defineReactor,
  type EventStore,
} from '../../src/index.js';
import { natsBus } from '../../src/bus/nats/index.js';
import { SERVICES } from '../support/services.js';
import { dropSchema } from '../support/stores.js';
import { cleanupBus } from '../relay/support/buses.js';
import { openPgStore, waitFor } from '../consumers/helpers.js';

/**
 * One command appends one event inside an active span; the relay publishes it to NATS JetStream and a bus-mode
 * worker hands it to a projection and a reactor that performs one effect. The exporter must hold one trace:
 * command → eventlane.append → eventlane.publish, eventlane.handle ×2 → eventlane.effect, with links to the event.
 */
describe.skipIf(!inject('services').postgres || !inject('services').nats)(
  'tracing through NATS JetStream',
  () => {
    const exporter = new InMemorySpanExporter();
    const contextManager = new AsyncLocalStorageContextManager();
    const suffix = randomBytes(4).toString('hex');
    let store: EventStore | undefined;

    beforeAll(() => {
      context.setGlobalContextManager(contextManager.enable());
      trace.setGlobalTracerProvider(
        new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
      );
    });
    afterAll(async () => {
      trace.disable();
      context.disable();
      await cleanupBus('nats', `EL_TRACE_${suffix}`);
      if (store) {
        await store.close();
        await dropSchema(store.schema);
      }
    });

    it('one trace: command, append, publish, handle ×2 and effect, linked to the event', async () => {
      store = await openPgStore();
      const s = store;
      await s.executor.query(`create table ${s.schema}.paid (id text primary key)`);
      const bus = () =>
        natsBus({
          servers: SERVICES.nats.url,
          stream: `EL_TRACE_${suffix}`,
          subjectPrefix: `eltr${suffix}`,
          storage: 'memory',
          registry: null,
        });
      const receipts: string[] = [];
      const summary = defineProjection({
        name: 'paid_orders',
        handlers: {
          'order.paid': async (e, { query }) => {
            await query(`insert into ${s.schema}.paid (id) values ($1)`, [e.stream]);
          },
        },
      });
      const mailer = defineReactor({
        name: 'receipts',
        handlers: {
          'order.paid': async (_e, { effect }) => {
            await effect('send-receipt', (key) => {
              receipts.push(key);
              return Promise.resolve({ sent: true });
            });
          },
        },
      });
      const relay = createRelay(s, { bus: bus(), name: `trace-${suffix}`, registry: null });
      const worker = createWorker(s, { consumers: [summary, mailer], from: bus() });
      await relay.start();
      await worker.start();
      const tracer = trace.getTracer('orders-service');
      let commandTraceId = '';
      let commandSpanId = '';
      try {
        await tracer.startActiveSpan('pay order', async (span) => {
          commandTraceId = span.spanContext().traceId;
          commandSpanId = span.spanContext().spanId;
          await s.append('order-7', [{ type: 'order.paid', data: { amount: 10 } }]);
          span.end();
        });
        await waitFor(
          'the projection and the reactor handled the event',
          async () => {
            const rows = await s.executor.query(`select id from ${s.schema}.paid`);
            return rows.length === 1 && receipts.length === 1;
          },
          30_000,
          50,
        );
        // The effect span ends after the journal write that follows the effect: give it the moment it needs.
        await waitFor(
          'the reactor span ended',
          () =>
            Promise.resolve(exporter.getFinishedSpans().some((x) => x.name === 'eventlane.handle receipts')),
          10_000,
          20,
        );
      } finally {
        await worker.stop();
        await relay.stop();
      }

      const spans = exporter.getFinishedSpans();
      const one = (name: string): ReadableSpan => {
        const found = spans.filter((x) => x.name === name);
        expect(found.map((x) => x.name)).toEqual([name]);
        return found[0]!;
      };
      const command = one('pay order');
      const append = one('eventlane.append');
      const publish = one('eventlane.publish');
      const projection = one('eventlane.handle paid_orders');
      const reactor = one('eventlane.handle receipts');
      const effect = one('eventlane.effect send-receipt');

      // One trace from the command to every consumer's work.
      for (const span of [command, append, publish, projection, reactor, effect])
        expect(span.spanContext().traceId, span.name).toBe(commandTraceId);

      // The append is a PRODUCER child of the command, and the event carries the append span's context.
      expect(append.kind).toBe(SpanKind.PRODUCER);
      expect(append.parentSpanContext?.spanId).toBe(commandSpanId);
      expect(append.attributes['messaging.system']).toBe('eventlane');
      expect(append.attributes['messaging.destination.name']).toBe('order-7');
      const [stored] = await s.readStream('order-7');
      const appendId = append.spanContext().spanId;
      expect(stored!.metadata.traceparent).toBe(`00-${commandTraceId}-${appendId}-01`);

      // Publish and both handlers are children of the event's context and link to it.
      for (const span of [publish, projection, reactor]) {
        expect(span.parentSpanContext?.spanId, span.name).toBe(appendId);
        expect(
          span.links.map((l) => l.context.spanId),
          span.name,
        ).toEqual([appendId]);
        expect(span.attributes['messaging.message.id'], span.name).toBe(stored!.id);
        expect(span.attributes['eventlane.stream'], span.name).toBe('order-7');
        expect(span.attributes['eventlane.stream_position'], span.name).toBe(1);
      }
      expect(publish.kind).toBe(SpanKind.PRODUCER);
      expect(publish.attributes['messaging.destination.name']).toBe('nats');
      expect(projection.kind).toBe(SpanKind.CONSUMER);
      expect(reactor.kind).toBe(SpanKind.CONSUMER);
      expect(projection.attributes['eventlane.consumer.kind']).toBe('projection');
      expect(reactor.attributes['eventlane.consumer.kind']).toBe('reactor');

      // The effect runs inside the reactor's span, linked to the event, with its idempotency key.
      expect(effect.parentSpanContext?.spanId).toBe(reactor.spanContext().spanId);
      expect(effect.links.map((l) => l.context.spanId)).toEqual([appendId]);
      expect(effect.attributes['eventlane.effect.idempotency_key']).toBe(receipts[0]);
      expect(effect.attributes['eventlane.effect.replayed']).toBe(false);
    });
  },
);
