import { context, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeCloudEvent, encodeCloudEvent, toCloudEvent } from '../../src/bus/cloudevents.js';
import { createIntake, type BusRejection } from '../../src/bus/intake.js';
import {
  createEventStore,
  createRelay,
  createWorker,
  defineReactor,
  ErrorCodes,
  InvalidBusMessageError,
  isEventlaneError,
  type EventStore,
  type StoredEvent,
} from '../../src/index.js';
import { useOpenTelemetryForTests } from '../../src/tracing/otel.js';
import { waitFor } from '../consumers/helpers.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const GIVEN = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const STATE = 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE';

const exporter = new InMemorySpanExporter();
let store: EventStore;

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
  store = await createEventStore();
});
afterAll(async () => {
  await store.close();
  trace.disable();
  context.disable();
});
afterEach(async () => {
  exporter.reset();
  await useOpenTelemetryForTests(undefined);
});

async function only(stream: string): Promise<StoredEvent> {
  const events = await store.readStream(stream);
  expect(events).toHaveLength(1);
  return events[0]!;
}

describe('append', () => {
  it('refuses a malformed traceparent or tracestate with a typed error, and writes nothing', async () => {
    for (const metadata of [
      { traceparent: '00-abc-def-01' },
      { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` },
      { traceparent: GIVEN.toUpperCase() },
      { traceparent: 12 as unknown as string },
      { traceparent: GIVEN, tracestate: 'Bad Key=1' },
      { tracestate: STATE },
    ]) {
      const error = await store
        .append('bad-trace', [
          { type: 'x.y', data: {} },
          { type: 'x.y', data: {}, metadata },
        ])
        .catch((e: unknown) => e);
      expect(isEventlaneError(error, ErrorCodes.INVALID_TRACE_CONTEXT), JSON.stringify(metadata)).toBe(true);
      expect((error as Error).message).toContain('events[1].metadata.');
    }
    expect(await store.readStream('bad-trace')).toEqual([]);
  });

  it("stores the append span's context, a child of the active span", async () => {
    const tracer = trace.getTracer('test');
    const commandTrace = await tracer.startActiveSpan('command', async (span) => {
      await store.append('active-1', [{ type: 'x.y', data: {}, metadata: { actor: 'ann' } }]);
      span.end();
      return span.spanContext().traceId;
    });
    const append = exporter.getFinishedSpans().find((s) => s.name === 'eventlane.append')!;
    expect(append.spanContext().traceId).toBe(commandTrace);
    const event = await only('active-1');
    expect(event.metadata).toEqual({
      actor: 'ann',
      traceparent: `00-${commandTrace}-${append.spanContext().spanId}-01`,
    });
  });

  it('keeps a traceparent given in the metadata (with its tracestate) over the active context', async () => {
    await trace.getTracer('test').startActiveSpan('command', async (span) => {
      await store.append('given-1', [
        { type: 'x.y', data: {}, metadata: { traceparent: GIVEN, tracestate: STATE } },
        { type: 'x.y', data: {} },
      ]);
      span.end();
    });
    const [given, taken] = await store.readStream('given-1');
    expect(given!.metadata).toEqual({ traceparent: GIVEN, tracestate: STATE });
    expect(taken!.metadata.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(taken!.metadata.traceparent).not.toContain(TRACE_ID);
  });

  it('without a tracer provider, stores the context propagated into the active context, and no span', async () => {
    trace.disable();
    try {
      const remote = {
        traceId: TRACE_ID,
        spanId: 'b7ad6b7169203331',
        traceFlags: TraceFlags.SAMPLED,
        isRemote: true,
      };
      await context.with(trace.setSpanContext(context.active(), remote), () =>
        store.append('remote-1', [{ type: 'x.y', data: {} }]),
      );
      await store.append('remote-2', [{ type: 'x.y', data: {} }]);
      expect((await only('remote-1')).metadata).toEqual({
        traceparent: `00-${TRACE_ID}-b7ad6b7169203331-01`,
      });
      expect((await only('remote-2')).metadata).toEqual({});
      expect(exporter.getFinishedSpans()).toEqual([]);
    } finally {
      trace.setGlobalTracerProvider(
        new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
      );
    }
  });
});

describe('without @opentelemetry/api', () => {
  it('still stores and forwards a given traceparent, starts no span and takes no active context', async () => {
    await useOpenTelemetryForTests(null);
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('command', async (span) => {
      await store.append('absent-1', [
        { type: 'order.paid', data: {}, metadata: { traceparent: GIVEN, tracestate: STATE } },
        { type: 'order.paid', data: {} },
      ]);
      span.end();
    });
    const [given, plain] = await store.readStream('absent-1');
    expect(given!.metadata).toEqual({ traceparent: GIVEN, tracestate: STATE });
    expect(plain!.metadata).toEqual({});
    // Malformed ones are refused all the same: the check needs no OpenTelemetry.
    await expect(
      store.append('absent-2', [{ type: 'x.y', data: {}, metadata: { traceparent: 'nope' } }]),
    ).rejects.toMatchObject({ code: ErrorCodes.INVALID_TRACE_CONTEXT });

    // Forwarded: on the wire as the distributed-tracing attributes, and to a reactor through the relay's bus.
    const ce = toCloudEvent(given!);
    expect([ce.traceparent, ce.tracestate, ce.elmetadata]).toEqual([GIVEN, STATE, undefined]);
    expect(decodeCloudEvent(encodeCloudEvent(given!))).toEqual(given);
    const seen: StoredEvent[] = [];
    const reactor = defineReactor({
      name: 'absent-seen',
      handlers: {
        'order.paid': (e) => {
          if (e.stream === 'absent-1') seen.push(e);
          return Promise.resolve();
        },
      },
    });
    const relay = createRelay(store, { registry: null, name: 'absent' });
    const worker = createWorker(store, { from: relay.bus, consumers: [reactor] });
    await relay.start();
    await worker.start();
    try {
      await waitFor('the reactor saw both events', () => seen.length === 2, 20_000);
    } finally {
      await worker.stop();
      await relay.stop();
    }
    expect(seen.map((e) => e.metadata)).toEqual([{ traceparent: GIVEN, tracestate: STATE }, {}]);
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['command']);
  });
});

describe('the bus', () => {
  const event: StoredEvent = {
    id: '0190f7a0-0000-7000-8000-000000000001',
    type: 'order.paid',
    version: 1,
    stream: 'order-1',
    streamPosition: 1,
    globalPosition: 1n,
    checkpoint: '100:1',
    data: {},
    metadata: { traceparent: GIVEN, tracestate: STATE },
    occurredAt: new Date('2026-01-01T00:00:00.000Z'),
    recordedAt: new Date('2026-01-01T00:00:00.000Z'),
  };

  it('refuses a malformed traceparent or tracestate attribute as a bus rejection, not a crash', () => {
    const registry = new Registry();
    const rejections: BusRejection[] = [];
    const intake = createIntake('nats', { registry, onReject: (r) => rejections.push(r) });
    const where = { consumer: 'c', partition: 0, onReject: undefined, deadLetter: undefined };
    const wire = toCloudEvent(event) as unknown as Record<string, unknown>;
    expect(intake(JSON.stringify(wire), where)).toEqual({ event });
    const cases: [Record<string, unknown>, string][] = [
      [{ traceparent: '00-abc-def-01' }, 'traceparent'],
      [{ traceparent: `00-${TRACE_ID}-0000000000000000-01` }, 'traceparent'],
      [{ traceparent: 42 }, 'traceparent'],
      [{ tracestate: 'no equals sign' }, 'tracestate'],
      [{ traceparent: undefined }, 'tracestate'],
    ];
    for (const [change, attribute] of cases) {
      const bad = JSON.stringify({ ...wire, ...change });
      const result = intake(bad, where);
      expect('rejection' in result, JSON.stringify(change)).toBe(true);
      expect(() => decodeCloudEvent(bad)).toThrow(InvalidBusMessageError);
      if ('rejection' in result) {
        expect(result.rejection.reason).toBe('invalid_attribute');
        expect(result.rejection.error.attribute).toBe(attribute);
        expect(result.rejection.error.code).toBe(ErrorCodes.INVALID_BUS_MESSAGE);
      }
    }
    expect(rejections).toHaveLength(cases.length);
  });

  it('sends a stored value that is not W3C Trace Context inside elmetadata, so it still decodes', () => {
    const legacy = { ...event, metadata: { traceparent: '00-abc-def-01', tracestate: STATE } };
    const ce = toCloudEvent(legacy);
    expect(ce.traceparent).toBeUndefined();
    expect(ce.tracestate).toBeUndefined();
    expect(JSON.parse(ce.elmetadata!)).toEqual(legacy.metadata);
    expect(decodeCloudEvent(encodeCloudEvent(legacy))).toEqual(legacy);
  });
});
