import type { StandardJSONSchemaV1, StandardSchemaV1 } from '@standard-schema/spec';
import { InvalidContractError, UpcastError } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';
import { isUuid, uuidv7 } from '../events/ids.js';
import { checkEventType } from '../events/names.js';
import type {
  CompatibilityWindow,
  CreateOptions,
  PersonalFields,
  DefineEventOptions,
  Deprecation,
  EventContract,
  VersionSchemas,
} from './types.js';

const OPTION_KEYS = new Set([
  'type',
  'owner',
  'versions',
  'upcast',
  'description',
  'deprecated',
  'window',
  'producers',
  'jsonSchema',
  'personal',
]);
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/;

function fail(type: unknown, message: string, details: Record<string, unknown> = {}): never {
  throw new InvalidContractError(
    `defineEvent(${typeof type === 'string' ? JSON.stringify(type) : '?'}): ${message}`,
    {
      type,
      ...details,
    },
  );
}

function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
  const std = (value as { '~standard'?: { version?: unknown; validate?: unknown } })['~standard'];
  return typeof std === 'object' && std !== null && std.version === 1 && typeof std.validate === 'function';
}

function checkDate(type: string, value: unknown, what: string): void {
  if (typeof value !== 'string' || !ISO_DATE.test(value) || Number.isNaN(Date.parse(value))) {
    fail(type, `${what} must be an ISO date such as "2027-06-30", got ${JSON.stringify(value)}.`);
  }
}

function checkVersions(type: string, versions: unknown): number[] {
  if (typeof versions !== 'object' || versions === null || Array.isArray(versions)) {
    fail(type, 'versions must be an object of schemas keyed by version number: { 1: z.object(…), 2: … }.');
  }
  const keys = Object.keys(versions);
  const numbers = keys.map(Number).sort((a, b) => a - b);
  if (numbers.length === 0) fail(type, 'versions is empty; declare at least version 1.');
  numbers.forEach((n, i) => {
    if (n !== i + 1) {
      fail(type, `versions must be 1, 2, 3 … without gaps, got ${keys.join(', ')}.`, { versions: keys });
    }
  });
  for (const n of numbers) {
    if (!isStandardSchema((versions as Record<number, unknown>)[n])) {
      fail(
        type,
        `versions[${n}] is not a Standard Schema (an object with "~standard".validate, version 1). ` +
          'Use zod v4 (z.object(…)) or another library that implements Standard Schema.',
      );
    }
  }
  return numbers;
}

function checkUpcasters(
  type: string,
  upcast: unknown,
  numbers: number[],
): Map<number, (data: unknown) => unknown> {
  const current = numbers[numbers.length - 1]!;
  if (upcast === undefined && current === 1) return new Map();
  if (typeof upcast !== 'object' || upcast === null) {
    fail(type, `upcast must be an object of functions keyed by version (1 … ${current - 1}).`);
  }
  const chain = new Map<number, (data: unknown) => unknown>();
  for (const key of Object.keys(upcast)) {
    const n = Number(key);
    if (!Number.isInteger(n) || n < 1 || n >= current) {
      fail(
        type,
        `upcast[${key}] has no place in the chain: upcasters go from each version before the current one ` +
          `(1 … ${current - 1}) to the next.`,
      );
    }
    const fn = (upcast as Record<string, unknown>)[key];
    if (typeof fn !== 'function')
      fail(type, `upcast[${key}] must be a function (data of v${n}) => data of v${n + 1}.`);
    chain.set(n, fn as (data: unknown) => unknown);
  }
  for (let n = 1; n < current; n++) {
    if (!chain.has(n)) {
      fail(
        type,
        `upcast[${n}] is missing: every version before the current one (v${current}) needs an upcaster to the next.`,
        {
          missing: n,
        },
      );
    }
  }
  return chain;
}

function checkMeta(type: string, options: Record<string, unknown>, numbers: number[]): void {
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key))
      fail(type, `unknown option ${JSON.stringify(key)}. Known: ${[...OPTION_KEYS].join(', ')}.`);
  }
  if (typeof options.owner !== 'string' || options.owner.trim() === '') {
    fail(type, 'owner must name the team or service that owns the contract, e.g. owner: "payments".');
  }
  if (options.description !== undefined && typeof options.description !== 'string') {
    fail(type, 'description must be a string.');
  }
  const producers = options.producers;
  if (
    producers !== undefined &&
    (!Array.isArray(producers) || producers.some((p) => typeof p !== 'string' || p.trim() === ''))
  ) {
    fail(type, 'producers must be an array of service names.');
  }
  const dep = options.deprecated as Deprecation | undefined;
  if (dep !== undefined) {
    if (typeof dep !== 'object' || dep === null)
      fail(type, 'deprecated must be { since, sunset?, reason? }.');
    checkDate(type, dep.since, 'deprecated.since');
    if (dep.sunset !== undefined) checkDate(type, dep.sunset, 'deprecated.sunset');
  }
  const window = options.window as CompatibilityWindow | undefined;
  if (window !== undefined) {
    if (typeof window !== 'object' || window === null) fail(type, 'window must be { versions?, until? }.');
    if (window.versions !== undefined && (!Number.isSafeInteger(window.versions) || window.versions < 1)) {
      fail(type, `window.versions must be a whole number ≥ 1, got ${String(window.versions)}.`);
    }
    if (window.until !== undefined) checkDate(type, window.until, 'window.until');
  }
  const js = options.jsonSchema;
  if (js !== undefined) {
    if (typeof js !== 'object' || js === null)
      fail(type, 'jsonSchema must be an object of JSON Schemas keyed by version.');
    for (const key of Object.keys(js)) {
      if (!numbers.includes(Number(key)))
        fail(type, `jsonSchema[${key}] is for a version that is not declared.`);
    }
  }
}

const FIELD_NAME = /^[A-Za-z_$][\w$-]{0,99}$/;

function checkPersonal(type: string, personal: unknown): PersonalFields | undefined {
  if (personal === undefined) return undefined;
  const shape = "personal must be { subject: 'userId', fields: ['email', 'name'] }";
  if (typeof personal !== 'object' || personal === null) fail(type, `${shape}.`);
  const { subject, fields, ...rest } = personal as { subject?: unknown; fields?: unknown };
  if (Object.keys(rest).length > 0) fail(type, `${shape}; unknown key ${Object.keys(rest)[0]}.`);
  if (typeof subject !== 'string' || !FIELD_NAME.test(subject)) {
    fail(type, `personal.subject must name a top-level field of the data, got ${JSON.stringify(subject)}.`);
  }
  if (!Array.isArray(fields) || fields.length === 0) {
    fail(type, `personal.fields must list at least one top-level field of the data.`);
  }
  const seen = new Set<string>();
  for (const f of fields as unknown[]) {
    if (typeof f !== 'string' || !FIELD_NAME.test(f)) {
      fail(type, `personal.fields holds ${JSON.stringify(f)}, which is not a field name.`);
    }
    if (f === subject) {
      fail(
        type,
        `personal.fields holds the subject field ${JSON.stringify(f)}: the subject stays in clear (it finds the key).`,
      );
    }
    if (seen.has(f)) fail(type, `personal.fields names ${JSON.stringify(f)} twice.`);
    seen.add(f);
  }
  return Object.freeze({ subject, fields: Object.freeze([...seen]) });
}

/**
 * Declares an event type: its schema per version, the upcasters between them, and who owns and produces it.
 *
 * @example
 * const OrderPaid = defineEvent({
 *   type: 'order.paid',
 *   owner: 'payments',
 *   versions: { 1: z.object({ amount: z.number() }), 2: z.object({ amount: z.number(), currency: z.string() }) },
 *   upcast: { 1: (v1) => ({ ...v1, currency: 'EUR' }) },
 * });
 * await store.append('order-42', [OrderPaid.create({ amount: 10, currency: 'EUR' })]);
 */
export function defineEvent<const Type extends string, const V extends VersionSchemas>(
  options: DefineEventOptions<Type, V>,
): EventContract<Type, V> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidContractError('defineEvent takes an options object { type, owner, versions, upcast }.');
  }
  const type: string = options.type;
  try {
    checkEventType(type, 'type');
  } catch (error) {
    throw new InvalidContractError(`defineEvent: ${(error as Error).message}`, { type }, error);
  }
  const numbers = checkVersions(type, options.versions);
  const chain = checkUpcasters(type, options.upcast, numbers);
  checkMeta(type, options as unknown as Record<string, unknown>, numbers);
  const personal = checkPersonal(type, options.personal);
  const current = numbers[numbers.length - 1]!;
  const schemas = Object.freeze({ ...(options.versions as VersionSchemas) });
  const jsonOverrides = (options.jsonSchema ?? {}) as Record<number, Record<string, unknown> | undefined>;

  const upcastData = (version: number, data: unknown): unknown => {
    if (version === current) return data;
    if (!Number.isInteger(version) || version < 1 || version > current) {
      throw new UpcastError(
        `An event of type ${JSON.stringify(type)} has version ${String(version)}, which its contract does not ` +
          `declare (1 … ${current}). Deploy the code that declares it, or fix the event's version.`,
        { type, version },
      );
    }
    let value = data;
    for (let v = version; v < current; v++) {
      try {
        value = chain.get(v)!(value);
      } catch (error) {
        throw new UpcastError(
          `The upcaster of ${JSON.stringify(type)} from v${v} to v${v + 1} threw: ${(error as Error)?.message ?? String(error)}. ` +
            'Upcasters must accept every stored event of their version; fix the upcaster.',
          { type, version: v },
          error,
        );
      }
      if (typeof (value as { then?: unknown } | null)?.then === 'function') {
        throw new UpcastError(
          `The upcaster of ${JSON.stringify(type)} from v${v} to v${v + 1} returned a Promise. Upcasters run on ` +
            'every read and must be synchronous and pure: compute the new data from the old, without I/O.',
          { type, version: v },
        );
      }
    }
    return value;
  };

  const contract: EventContract<Type, V> = {
    kind: 'eventlane.event-contract',
    type: type as Type,
    owner: options.owner,
    currentVersion: current as EventContract<Type, V>['currentVersion'],
    versionNumbers: Object.freeze(numbers),
    schemas: schemas as Readonly<V>,
    description: options.description,
    deprecated: options.deprecated,
    window: options.window,
    producers: Object.freeze([...(options.producers ?? [options.owner])]),
    personal,
    upcastData,
    upcaster: (version) => chain.get(version),
    jsonSchema(version) {
      const override = jsonOverrides[version];
      if (override) return override;
      const schema = schemas[version];
      if (!schema) {
        throw new InvalidContractError(
          `${type} has no version ${version}; declared: ${numbers.join(', ')}.`,
          { type, version },
        );
      }
      const converter = (schema as unknown as Partial<StandardJSONSchemaV1>)['~standard']?.jsonSchema;
      if (!converter) {
        throw new InvalidContractError(
          `${type} v${version}: its schema library (${schema['~standard'].vendor}) does not implement Standard JSON ` +
            'Schema, so no JSON Schema can be derived. Pass it in defineEvent({ jsonSchema: { ' +
            `${version}: {…} } }).`,
          { type, version },
        );
      }
      // draft-07: what AsyncAPI 3.0 documents accept as a JSON Schema payload; the output side, because what a
      // schema outputs is what gets stored and what readers see.
      return converter.output({ target: 'draft-07' });
    },
    create(data, createOptions?: CreateOptions) {
      const id = createOptions?.id ?? uuidv7();
      if (!isUuid(id)) {
        throw new InvalidContractError(
          `${type}.create: id ${JSON.stringify(id)} is not a UUID; leave it out to get a UUIDv7.`,
        );
      }
      const event = {
        id,
        type: type as Type,
        version: current as EventContract<Type, V>['currentVersion'],
        data,
      };
      return Object.assign(
        event,
        createOptions?.metadata === undefined ? {} : { metadata: createOptions.metadata },
        createOptions?.occurredAt === undefined ? {} : { occurredAt: createOptions.occurredAt },
      );
    },
    is(event: StoredEvent<string, unknown>): event is never {
      return event.type === type && event.version === current;
    },
  };
  return Object.freeze(contract);
}

/** True for the objects `defineEvent` returns, also when loaded from another copy of the package. */
export function isEventContract(value: unknown): value is EventContract {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === 'eventlane.event-contract' &&
    typeof (value as { upcastData?: unknown }).upcastData === 'function'
  );
}
