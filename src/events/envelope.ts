import type { JsonObject, JsonValue } from './json.js';

/** Metadata every event may carry. Anything else JSON may be added. */
export interface EventMetadata {
  correlationId?: string;
  causationId?: string;
  /** W3C Trace Context `traceparent` of the appending code; see "Tracing" in docs/operations.md. */
  traceparent?: string;
  /** W3C Trace Context `tracestate`, only beside a `traceparent`. */
  tracestate?: string;
  actor?: string;
  [key: string]: JsonValue | undefined;
}

/** An event as a caller hands it to `append`: only `type` and `data` are required. */
export interface NewEvent<Type extends string = string, Data = unknown> {
  /** UUID; a UUIDv7 is generated when absent. Supplying it makes retries of the same append idempotent. */
  id?: string;
  /** Dotted lower-case name, e.g. `order.paid`. */
  type: Type;
  /** Schema version of `data`; 1 when absent. */
  version?: number;
  data: Data;
  metadata?: EventMetadata;
  /** When the fact happened in the domain; the append time when absent. */
  occurredAt?: Date;
}

/** An event as it is stored in the log. */
export interface StoredEvent<Type extends string = string, Data = JsonValue> {
  id: string;
  type: Type;
  version: number;
  stream: string;
  /** 1, 2, 3 … within the stream, with no holes. */
  streamPosition: number;
  /** Position in the log in insert order. Unique, increasing, but NOT commit order: use `checkpoint` to resume. */
  globalPosition: bigint;
  /** Where a log reader stands after this event (commit order); pass it as `after` to continue. */
  checkpoint: string;
  data: Data;
  metadata: EventMetadata;
  occurredAt: Date;
  recordedAt: Date;
}

export type { JsonObject, JsonValue };
