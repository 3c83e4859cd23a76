import type { StandardSchemaV1 } from '@standard-schema/spec';
import {
  InvalidArgumentError,
  InvalidContractError,
  SchemaValidationError,
  UndeclaredEventError,
  type SchemaIssue,
} from '../errors.js';
import type { NewEvent, StoredEvent } from '../events/envelope.js';
import { isEventContract } from './define-event.js';
import type { AnyEventContract } from './types.js';

/** What a store does with an event whose type no contract declares. */
export type UndeclaredEventsPolicy = 'reject' | 'allow';

/**
 * The contracts a store knows. Relays and consumers that receive events from a bus use `upcast` to see them
 * at the current version, as the store's own reads do.
 */
export interface ContractRegistry {
  readonly undeclaredEvents: UndeclaredEventsPolicy;
  /** The contract of a type, if declared. */
  get(type: string): AnyEventContract | undefined;
  /** Every declared contract, in declaration order. */
  list(): readonly AnyEventContract[];
  /**
   * Returns the event at its type's current version (the same object when it already is, or when the type is
   * undeclared). The stored event is never changed: a new object is returned.
   */
  upcast<E extends Pick<StoredEvent, 'type' | 'version' | 'data'>>(event: E): E;
  /**
   * Validates events against their version's schema and returns them with the schemas' output as data.
   * Synchronous when every schema validates synchronously (zod without async refinements); otherwise a Promise.
   * Throws SchemaValidationError listing every issue, or UndeclaredEventError.
   */
  validate(events: readonly NewEvent[]): readonly NewEvent[] | Promise<readonly NewEvent[]>;
}

type Result = StandardSchemaV1.Result<unknown>;

function formatPath(path: StandardSchemaV1.Issue['path']): string {
  let out = 'data';
  for (const segment of path ?? []) {
    const key = typeof segment === 'object' && segment !== null ? segment.key : segment;
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

class ContractRegistryImpl implements ContractRegistry {
  readonly undeclaredEvents: UndeclaredEventsPolicy;
  readonly #byType: Map<string, AnyEventContract>;

  constructor(contracts: readonly AnyEventContract[], policy: UndeclaredEventsPolicy) {
    this.#byType = new Map(contracts.map((c) => [c.type, c]));
    this.undeclaredEvents = policy;
  }

  get(type: string): AnyEventContract | undefined {
    return this.#byType.get(type);
  }

  list(): readonly AnyEventContract[] {
    return [...this.#byType.values()];
  }

  upcast<E extends Pick<StoredEvent, 'type' | 'version' | 'data'>>(event: E): E {
    const contract = this.#byType.get(event.type);
    if (contract === undefined || event.version === contract.currentVersion) return event;
    return {
      ...event,
      version: contract.currentVersion,
      data: contract.upcastData(event.version, event.data),
    };
  }

  validate(events: readonly NewEvent[]): readonly NewEvent[] | Promise<readonly NewEvent[]> {
    // Shape errors (not an array, not an object) are left to the append's own checks, which word them well.
    if (!Array.isArray(events)) return events;
    const results: (Result | Promise<Result> | undefined)[] = new Array<Result | Promise<Result> | undefined>(
      events.length,
    );
    let pending = false;
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as NewEvent | undefined;
      if (typeof event !== 'object' || event === null || typeof event.type !== 'string') continue;
      const contract = this.#byType.get(event.type);
      if (contract === undefined) {
        if (this.undeclaredEvents === 'reject')
          throw new UndeclaredEventError(i, event.type, [...this.#byType.keys()]);
        continue;
      }
      const version = event.version ?? 1;
      const schema = contract.schemas[version];
      if (schema === undefined) {
        throw new SchemaValidationError([
          {
            index: i,
            type: event.type,
            version,
            path: 'version',
            message: `version ${String(version)} is not declared; declared versions are ${contract.versionNumbers.join(', ')}`,
          },
        ]);
      }
      const result = schema['~standard'].validate(event.data);
      if (result instanceof Promise) pending = true;
      results[i] = result;
    }
    // Sync fast path: zod without async refinements returns plain results, so the append stays one tick.
    if (!pending) return this.#apply(events, results as (Result | undefined)[]);
    return Promise.all(results.map(async (r) => r)).then((settled) => this.#apply(events, settled));
  }

  #apply(events: readonly NewEvent[], results: readonly (Result | undefined)[]): readonly NewEvent[] {
    let issues: SchemaIssue[] | undefined;
    let out: NewEvent[] | undefined;
    for (let i = 0; i < events.length; i++) {
      const result = results[i];
      if (result === undefined) continue;
      const event = events[i]!;
      if (result.issues !== undefined) {
        issues ??= [];
        for (const issue of result.issues) {
          issues.push({
            index: i,
            type: event.type,
            version: event.version ?? 1,
            path: formatPath(issue.path),
            message: issue.message,
          });
        }
        continue;
      }
      // Store what the schema outputs (defaults filled in, unknown keys stripped as the schema says); copy the
      // array only when some event's data actually changed.
      if (result.value !== event.data) {
        out ??= [...events];
        out[i] = { ...event, data: result.value };
      }
    }
    if (issues !== undefined) throw new SchemaValidationError(issues);
    return out ?? events;
  }
}

export interface ContractRegistryOptions {
  /** @defaultValue 'reject' — a store that declares contracts refuses types it does not know (typos included). */
  undeclaredEvents?: UndeclaredEventsPolicy;
}

/** Builds the registry a store uses; exposed for relays and consumers that upcast events from a bus. */
export function createContractRegistry(
  contracts: readonly AnyEventContract[],
  options: ContractRegistryOptions = {},
): ContractRegistry {
  if (!Array.isArray(contracts)) {
    throw new InvalidArgumentError('events must be an array of contracts made with defineEvent.');
  }
  const seen = new Set<string>();
  contracts.forEach((c, i) => {
    if (!isEventContract(c)) {
      throw new InvalidContractError(`events[${i}] is not a contract made with defineEvent.`, { index: i });
    }
    if (seen.has(c.type)) {
      throw new InvalidContractError(
        `events declares ${JSON.stringify(c.type)} twice; keep one contract per type.`,
        {
          type: c.type,
        },
      );
    }
    seen.add(c.type);
  });
  const policy = options.undeclaredEvents ?? 'reject';
  if (policy !== 'reject' && policy !== 'allow') {
    throw new InvalidArgumentError(
      `undeclaredEvents must be 'reject' or 'allow', got ${JSON.stringify(policy)}.`,
    );
  }
  return new ContractRegistryImpl(contracts, policy);
}
