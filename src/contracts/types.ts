import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { EventMetadata, NewEvent, StoredEvent } from '../events/envelope.js';

/**
 * The type-level successor of each version number. Versions form a chain 1 → 2 → … → current; 64 versions of
 * one event type are far more than any team keeps readable, and a fixed table keeps the compiler fast.
 */
export interface NextVersion {
  1: 2;
  2: 3;
  3: 4;
  4: 5;
  5: 6;
  6: 7;
  7: 8;
  8: 9;
  9: 10;
  10: 11;
  11: 12;
  12: 13;
  13: 14;
  14: 15;
  15: 16;
  16: 17;
  17: 18;
  18: 19;
  19: 20;
  20: 21;
  21: 22;
  22: 23;
  23: 24;
  24: 25;
  25: 26;
  26: 27;
  27: 28;
  28: 29;
  29: 30;
  30: 31;
  31: 32;
  32: 33;
  33: 34;
  34: 35;
  35: 36;
  36: 37;
  37: 38;
  38: 39;
  39: 40;
  40: 41;
  41: 42;
  42: 43;
  43: 44;
  44: 45;
  45: 46;
  46: 47;
  47: 48;
  48: 49;
  49: 50;
  50: 51;
  51: 52;
  52: 53;
  53: 54;
  54: 55;
  55: 56;
  56: 57;
  57: 58;
  58: 59;
  59: 60;
  60: 61;
  61: 62;
  62: 63;
  63: 64;
}
type PrevVersion = { [K in keyof NextVersion as NextVersion[K]]: K };

/** The schemas of an event type, one per version: `{ 1: schemaV1, 2: schemaV2 }` (Standard Schema). */
export type VersionSchemas = { [version: number]: StandardSchemaV1 };

type VersionKeys<V> = keyof V & number;

/** The highest declared version: the one without a successor in `V`. */
export type CurrentVersion<V> = {
  [K in VersionKeys<V>]: K extends keyof NextVersion ? (NextVersion[K] extends keyof V ? never : K) : K;
}[VersionKeys<V>];

/** Versions whose predecessor is missing (a hole in the chain, or a chain that does not start at 1). */
type VersionGaps<V> = {
  [K in VersionKeys<V>]: K extends 1
    ? never
    : K extends keyof PrevVersion
      ? PrevVersion[K] extends keyof V
        ? never
        : K
      : K;
}[VersionKeys<V>];

/**
 * `unknown` when the versions are 1, 2, … without holes; otherwise an object type that cannot be satisfied and
 * whose property names the problem, so the compiler's message says what is wrong.
 */
export type CheckVersions<V> = [VersionGaps<V>] extends [never]
  ? unknown
  : { 'versions must be 1, 2, 3 … without gaps; missing the version before': VersionGaps<V> };

/** The data a schema accepts (what `create` takes). */
export type SchemaInput<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : never;
/** The data a schema produces: what is stored, and what readers see. */
export type SchemaOutput<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<S> : never;

/**
 * One upcaster per version except the current one: `upcast[n]` turns the data of version n into the data of
 * version n + 1. Pure and synchronous, on plain JSON: they run on every read of an old event.
 */
export type Upcasters<V> = [Exclude<VersionKeys<V>, CurrentVersion<V>>] extends [never]
  ? { [version: number]: never }
  : UpcasterChain<V>;

type UpcasterChain<V> = {
  [K in Exclude<VersionKeys<V>, CurrentVersion<V>>]: (
    data: SchemaOutput<V[K]>,
  ) => K extends keyof NextVersion
    ? NextVersion[K] extends keyof V
      ? SchemaOutput<V[NextVersion[K]]>
      : never
    : never;
};

/** Marks a type as on its way out: still readable, no longer to be produced. */
export interface Deprecation {
  /** ISO date (YYYY-MM-DD) since when producers should stop appending the type. */
  since: string;
  /** ISO date after which the type may be removed. */
  sunset?: string;
  /** What to use instead, or why. */
  reason?: string;
}

/**
 * How long old versions must stay readable. Versions outside the window are reported by `contracts check`
 * as candidates for retirement (their upcasters can go once their events are archived or migrated).
 */
export interface CompatibilityWindow {
  /** The number of most recent versions (the current one included) that must stay readable. */
  versions?: number;
  /** ISO date until which every declared version must stay readable. */
  until?: string;
}

/** `upcast` may be left out while a contract has a single version; from version 2 on, every step is required. */
export type DefineEventOptions<Type extends string, V extends VersionSchemas> = DefineEventBase<Type, V> &
  ([Exclude<VersionKeys<V>, CurrentVersion<V>>] extends [never]
    ? { upcast?: NoInfer<Upcasters<V>> }
    : {
        /** The chain of upcasters; required exactly for the versions before the current one. */ upcast: NoInfer<
          Upcasters<V>
        >;
      });

export interface DefineEventBase<Type extends string, V extends VersionSchemas> {
  /** Dotted lower-case name, e.g. `order.paid`. */
  type: Type;
  /** The team or service that owns the contract and decides its changes. */
  owner: string;
  /** One Standard Schema (zod v4, valibot, arktype, …) per version, keyed 1, 2, 3 … */
  versions: V & CheckVersions<V>;
  /** A sentence for the generated docs. */
  description?: string;
  deprecated?: Deprecation;
  window?: CompatibilityWindow;
  /** The services that append this type. @defaultValue [owner] */
  producers?: readonly string[];
  /**
   * JSON Schema per version for schema libraries that do not implement Standard JSON Schema (zod v4 does;
   * then this is not needed). Used by `contracts snapshot`, `check` and `docs`.
   */
  jsonSchema?: { [K in VersionKeys<V>]?: Record<string, unknown> };
  /**
   * The fields of the current version's data that hold personal data of one subject (a person): stored encrypted
   * with that subject's key and erased everywhere by `store.forget(subject)` (docs/retention.md#forgetting-personal-data).
   * `subject` names the field holding the subject's id; it stays in clear and cannot be one of `fields`.
   *
   * @example personal: { subject: 'userId', fields: ['email', 'name'] }
   */
  personal?: PersonalOption<SchemaInput<V[CurrentVersion<V>]>>;
}

/** Field names of a data type (its string keys), for the `personal` option. */
type DataKeys<D> = D extends object ? Extract<keyof D, string> : never;

/** The `personal` option of defineEvent, typed by the data of the current version. */
export interface PersonalOption<D> {
  subject: DataKeys<D>;
  fields: readonly DataKeys<D>[];
}

/** The personal fields of a contract, as the store uses them. */
export interface PersonalFields {
  readonly subject: string;
  readonly fields: readonly string[];
}

export interface CreateOptions {
  /** The event id; a UUIDv7 is generated now, so retrying the same event object stays idempotent. */
  id?: string;
  metadata?: EventMetadata;
  occurredAt?: Date;
}

/** An event contract, untyped: what the registry, the checker and the docs work on. */
export interface AnyEventContract {
  readonly type: string;
  readonly owner: string;
  readonly currentVersion: number;
  /** Declared versions in ascending order: 1, 2, … currentVersion. */
  readonly versionNumbers: readonly number[];
  readonly schemas: Readonly<Record<number, StandardSchemaV1>>;
  readonly description: string | undefined;
  readonly deprecated: Deprecation | undefined;
  readonly window: CompatibilityWindow | undefined;
  readonly producers: readonly string[];
  /** Upcasts JSON data of `version` to the current version (the identity for the current version). */
  upcastData(version: number, data: unknown): unknown;
  /** The upcaster from `version` to `version + 1`, if declared. */
  upcaster(version: number): ((data: unknown) => unknown) | undefined;
  /** The JSON Schema (draft-07) of one version: from the `jsonSchema` option or Standard JSON Schema. */
  jsonSchema(version: number): Record<string, unknown>;
  /** The declared personal fields and their subject field, or undefined. */
  readonly personal?: PersonalFields | undefined;
  /** Brand so `AnyEventContract` values are recognised at run time (configs loaded by the CLI). */
  readonly kind: 'eventlane.event-contract';
}

/** A typed event contract, as `defineEvent` returns it. */
export interface EventContract<
  Type extends string = string,
  V extends VersionSchemas = VersionSchemas,
> extends AnyEventContract {
  readonly type: Type;
  readonly currentVersion: CurrentVersion<V>;
  readonly schemas: Readonly<V>;
  /** A new event at the current version, ready for `append`. Its data is validated on append. */
  create(
    data: SchemaInput<V[CurrentVersion<V>]>,
    options?: CreateOptions,
  ): NewEvent<Type, SchemaInput<V[CurrentVersion<V>]>> & { id: string; version: CurrentVersion<V> };
  /** True when `event` is of this type at the current version (what a store with this contract reads). */
  is(event: StoredEvent<string, unknown>): event is StoredEvent<Type, SchemaOutput<V[CurrentVersion<V>]>>;
}

/** The data of a contract's current version, as readers see it. */
export type EventData<C> =
  C extends EventContract<string, infer V> ? SchemaOutput<V[CurrentVersion<V>]> : never;

/** A stored event of a contract, upcast to its current version: what handlers receive. */
export type EventOf<C> =
  C extends EventContract<infer T, infer V> ? StoredEvent<T, SchemaOutput<V[CurrentVersion<V>]>> : never;

/**
 * Anything with handlers keyed by event type: projections and reactors (`defineProjection`, `defineReactor`).
 * The contract docs list such objects as the consumers of the types they handle.
 */
export interface ConsumerLike {
  name: string;
  kind?: 'projection' | 'reactor';
  handlers: Record<string, unknown>;
}

/**
 * The stored events of a list of contracts, each upcast to its current version: a union discriminated by `type`.
 * Contracts whose types are not known to the compiler (a registry loaded at run time) give the untyped
 * `StoredEvent`, so untyped code keeps compiling.
 */
export type EventsOf<Cs extends readonly AnyEventContract[]> = [TypedEventOf<Cs[number]>] extends [never]
  ? StoredEvent
  : TypedEventOf<Cs[number]>;

type TypedEventOf<C> =
  C extends EventContract<infer T, infer V>
    ? string extends T
      ? never
      : StoredEvent<T, SchemaOutput<V[CurrentVersion<V>]>>
    : never;

/**
 * The events a store with these contracts takes in `append` (and a command's decision returns): for each declared
 * type and version, `data` as that version's schema accepts it. A plain `{ type, data }` without `version` is
 * version 1, as the store validates it; `create()` gives the current version. A union discriminated by `type`, so a
 * wrong type name or data shape is a compile error. Contracts whose types are not known to the compiler give the
 * untyped `NewEvent`.
 */
export type NewEventsOf<Cs extends readonly AnyEventContract[]> = [TypedNewEventOf<Cs[number]>] extends [
  never,
]
  ? NewEvent
  : TypedNewEventOf<Cs[number]>;

type TypedNewEventOf<C> =
  C extends EventContract<infer T, infer V> ? (string extends T ? never : NewEventVersions<T, V>) : never;

type NewEventVersions<T extends string, V> = {
  [K in VersionKeys<V>]: K extends 1
    ? NewEvent<T, SchemaInput<V[K]>> & { version?: 1 }
    : NewEvent<T, SchemaInput<V[K]>> & { version: K };
}[VersionKeys<V>];

/** The handlers of a typed consumer: one optional handler per declared event type, given that type's event. */
export type TypedHandlers<E extends StoredEvent<string, unknown>, Context> = string extends E['type']
  ? Record<string, (event: E, context: Context) => Promise<void>>
  : { [K in E['type']]?: (event: Extract<E, { type: K }>, context: Context) => Promise<void> };
