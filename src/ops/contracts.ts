// The event contracts a store was opened with (`openStore({ events })`), with the consumers that handle each type,
// for the dashboard's contracts view and GET /api/contracts.

import { consumersByType, type ConsumerRef } from '../contracts/docs.js';
import type { AnyEventContract, ConsumerLike } from '../contracts/types.js';
import type { EventStore } from '../store/event-store.js';

export interface ContractView {
  type: string;
  owner: string;
  description: string | null;
  currentVersion: number;
  /** Each declared version with its JSON Schema (draft-07), oldest first. */
  versions: { version: number; schema: Record<string, unknown> | null }[];
  deprecated: { since: string; sunset?: string; reason?: string } | null;
  producers: string[];
  consumers: ConsumerRef[];
}

/**
 * The declared contracts: `contracts` when given, else the store's own. `consumers` (projections and reactors, as
 * in the config's `consumers`) name the handlers of each type; without them the list of consumers is empty.
 */
export function listContracts(
  store: EventStore,
  options: { contracts?: readonly AnyEventContract[]; consumers?: readonly ConsumerLike[] } = {},
): ContractView[] {
  const byType = consumersByType(options.consumers);
  return (options.contracts ?? store.contracts?.list() ?? []).map((c) => ({
    type: c.type,
    owner: c.owner,
    description: c.description ?? null,
    currentVersion: c.currentVersion,
    versions: c.versionNumbers.map((version) => {
      let schema: Record<string, unknown> | null;
      try {
        schema = c.jsonSchema(version);
      } catch {
        schema = null; // a schema library without JSON Schema output
      }
      return { version, schema };
    }),
    deprecated: c.deprecated === undefined ? null : { ...c.deprecated },
    producers: [...c.producers],
    consumers: byType.get(c.type) ?? [],
  }));
}
