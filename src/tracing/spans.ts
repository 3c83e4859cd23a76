import type { Attributes, Context, Link, Span, SpanContext, Tracer } from '@opentelemetry/api';
import type { EventMetadata, StoredEvent } from '../events/envelope.js';
import { openTelemetry, type OpenTelemetry } from './otel.js';
import {
  formatTraceparent,
  parseTraceparent,
  tracestateProblem,
  type EventTraceContext,
} from './trace-context.js';

/**
 * The spans eventlane starts, when `@opentelemetry/api` is installed and a tracer provider is registered:
 *
 * | span                        | kind     | parent                                   | links                    |
 * | --------------------------- | -------- | ---------------------------------------- | ------------------------ |
 * | `eventlane.append`          | PRODUCER | the active context of the appending code | none                     |
 * | `eventlane.publish`         | PRODUCER | the event's context (a batch of one)     | each event's context     |
 * | `eventlane.handle <name>`   | CONSUMER | the event's context (one event)          | each event's context     |
 * | `eventlane.effect <effect>` | INTERNAL | the active context: the handler's span   | the event's context      |
 *
 * A span for one event is a child of the event's trace context, so one trace shows command → append → publish →
 * every consumer's work; a span for several events (a relay batch, a projection's batch handler) starts a trace of
 * its own and links to each event's context. Without the API every function here runs `fn` after one check.
 */

const TRACER_NAME = 'eventlane';

/** The subset of a span eventlane code may touch after it started. */
export interface SpanHandle {
  setAttribute(key: string, value: string | number | boolean): void;
}

let lastProvider: unknown;
let lastTracer: Tracer | undefined;

/** The eventlane tracer, or `undefined` while no tracer provider is registered (only the no-op proxy). */
function tracerOf(otel: OpenTelemetry): Tracer | undefined {
  const provider = otel.trace.getTracerProvider();
  if (provider !== lastProvider) {
    lastProvider = provider;
    lastTracer =
      provider instanceof otel.ProxyTracerProvider
        ? provider.getDelegateTracer(TRACER_NAME)
        : provider.getTracer(TRACER_NAME);
  }
  return lastTracer;
}

/** The span context an event's metadata carries, or `undefined` when it carries none (or an invalid one). */
export function eventSpanContext(otel: OpenTelemetry, metadata: EventMetadata): SpanContext | undefined {
  const parent = parseTraceparent(metadata.traceparent);
  if (parent === undefined) return undefined;
  const state = metadata.tracestate;
  return {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: parent.flags,
    isRemote: true,
    traceState:
      typeof state === 'string' && tracestateProblem(state) === undefined
        ? otel.createTraceState(state)
        : undefined,
  };
}

function traceContextOf(span: SpanContext): EventTraceContext {
  const state = span.traceState?.serialize();
  const context: EventTraceContext = {
    traceparent: formatTraceparent(span.traceId, span.spanId, span.traceFlags),
  };
  if (state) context.tracestate = state;
  return context;
}

function eventAttributes(event: StoredEvent): Attributes {
  return {
    'messaging.message.id': event.id,
    'eventlane.event.type': event.type,
    'eventlane.stream': event.stream,
    'eventlane.stream_position': event.streamPosition,
    'eventlane.global_position': event.globalPosition.toString(),
  };
}

async function inSpan<T>(
  otel: OpenTelemetry,
  tracer: Tracer,
  name: string,
  options: { kind: number; attributes: Attributes; links: Link[] },
  parent: Context,
  fn: (span: SpanHandle) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, options, parent, async (span: Span) => {
    try {
      return await fn(span);
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: otel.SpanStatusCode.ERROR, message: (error as Error)?.message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * Runs an append in an `eventlane.append` span (PRODUCER) and hands `fn` the trace context its events carry: the
 * append span's, or without a tracer provider the active context's (say, one extracted from an incoming request
 * by a propagator). `fn` gets `undefined` when there is no trace to join.
 */
export function traceAppend<T>(
  stream: string,
  count: number,
  fn: (trace: EventTraceContext | undefined) => Promise<T>,
): Promise<T> {
  const otel = openTelemetry();
  if (otel === undefined) return fn(undefined);
  const tracer = tracerOf(otel);
  if (tracer === undefined) {
    const active = otel.trace.getSpanContext(otel.context.active());
    return fn(active && otel.trace.isSpanContextValid(active) ? traceContextOf(active) : undefined);
  }
  const attributes: Attributes = {
    'messaging.system': 'eventlane',
    'messaging.operation.type': 'send',
    'messaging.destination.name': stream,
    'messaging.batch.message_count': count,
    'eventlane.stream': stream,
  };
  return inSpan(
    otel,
    tracer,
    'eventlane.append',
    { kind: otel.SpanKind.PRODUCER, attributes, links: [] },
    otel.context.active(),
    () => {
      const ctx = otel.trace.getSpanContext(otel.context.active());
      return fn(ctx && otel.trace.isSpanContextValid(ctx) ? traceContextOf(ctx) : undefined);
    },
  );
}

/** Parent and links of a span over `events`: a child of the event's context for one, links only for several. */
function placement(otel: OpenTelemetry, events: readonly StoredEvent[]): { parent: Context; links: Link[] } {
  const links: Link[] = [];
  for (const event of events) {
    const context = eventSpanContext(otel, event.metadata);
    if (context !== undefined) links.push({ context });
  }
  // ROOT, not the active context: a worker or relay loop may run inside whatever async context woke it.
  const parent =
    events.length === 1 && links.length === 1
      ? otel.trace.setSpanContext(otel.ROOT_CONTEXT, links[0]!.context)
      : otel.ROOT_CONTEXT;
  return { parent, links };
}

/** Runs a relay's publish of a batch to the `bus` (its kind: `nats`, …) in an `eventlane.publish` span (PRODUCER). */
export function tracePublish<T>(
  bus: string,
  relay: string,
  messages: readonly { event: StoredEvent }[],
  fn: () => Promise<T>,
): Promise<T> {
  const otel = openTelemetry();
  if (otel === undefined) return fn();
  const tracer = tracerOf(otel);
  if (tracer === undefined || messages.length === 0) return fn();
  const events = messages.map((m) => m.event);
  const { parent, links } = placement(otel, events);
  const attributes: Attributes = {
    'messaging.system': 'eventlane',
    'messaging.operation.type': 'send',
    'messaging.destination.name': bus,
    'messaging.batch.message_count': events.length,
    'eventlane.relay': relay,
    ...(events.length === 1 ? eventAttributes(events[0]!) : {}),
  };
  return inSpan(
    otel,
    tracer,
    'eventlane.publish',
    { kind: otel.SpanKind.PRODUCER, attributes, links },
    parent,
    fn,
  );
}

/**
 * Runs one handler call of consumer `name` (a projection or a reactor) over `events` (one event, or a projection
 * batch) in an `eventlane.handle <name>` span (CONSUMER).
 */
export function traceHandle<T>(
  name: string,
  kind: 'projection' | 'reactor',
  events: readonly StoredEvent[],
  fn: () => Promise<T>,
): Promise<T> {
  const otel = openTelemetry();
  if (otel === undefined) return fn();
  const tracer = tracerOf(otel);
  if (tracer === undefined || events.length === 0) return fn();
  const { parent, links } = placement(otel, events);
  const attributes: Attributes = {
    'messaging.system': 'eventlane',
    'messaging.operation.type': 'process',
    'messaging.destination.name': name,
    'messaging.consumer.group.name': name,
    'messaging.batch.message_count': events.length,
    'eventlane.consumer': name,
    'eventlane.consumer.kind': kind,
    ...(events.length === 1 ? eventAttributes(events[0]!) : {}),
  };
  return inSpan(
    otel,
    tracer,
    `eventlane.handle ${name}`,
    { kind: otel.SpanKind.CONSUMER, attributes, links },
    parent,
    fn,
  );
}

/**
 * Runs one reactor effect in an `eventlane.effect <effect>` span (INTERNAL), a child of the active context (the
 * handler's span) with a link to the event's context. `fn` may mark the span as replayed from the journal.
 */
export function traceEffect<T>(
  consumer: string,
  effect: string,
  idempotencyKey: string,
  event: StoredEvent | undefined,
  fn: (span: SpanHandle | undefined) => Promise<T>,
): Promise<T> {
  const otel = openTelemetry();
  if (otel === undefined) return fn(undefined);
  const tracer = tracerOf(otel);
  if (tracer === undefined) return fn(undefined);
  const context = event === undefined ? undefined : eventSpanContext(otel, event.metadata);
  const attributes: Attributes = {
    'messaging.system': 'eventlane',
    'eventlane.consumer': consumer,
    'eventlane.effect': effect,
    'eventlane.effect.idempotency_key': idempotencyKey,
    ...(event === undefined ? {} : eventAttributes(event)),
  };
  return inSpan(
    otel,
    tracer,
    `eventlane.effect ${effect}`,
    { kind: otel.SpanKind.INTERNAL, attributes, links: context ? [{ context }] : [] },
    otel.context.active(),
    fn,
  );
}
