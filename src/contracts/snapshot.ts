import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidContractError } from '../errors.js';
import type { AnyEventContract, CompatibilityWindow, Deprecation } from './types.js';

export type JsonSchema = Record<string, unknown>;

/** What was published of one event type: its JSON Schema per version and when each version first appeared. */
export interface ContractSnapshot {
  type: string;
  owner: string;
  currentVersion: number;
  producers: string[];
  deprecated?: Deprecation;
  window?: CompatibilityWindow;
  versions: Record<number, { publishedAt: string; schema: JsonSchema }>;
}

/** The committed snapshot of every declared contract, keyed by type. */
export type Snapshot = Record<string, ContractSnapshot>;

/**
 * The snapshot of the contracts as the code declares them now. `previous` keeps the `publishedAt` of versions
 * already published, so re-snapshotting does not move their dates.
 */
export function snapshotContracts(
  contracts: readonly AnyEventContract[],
  previous: Snapshot = {},
  now = new Date(),
): Snapshot {
  const out: Snapshot = {};
  for (const c of contracts) {
    const versions: ContractSnapshot['versions'] = {};
    // Own keys only: a type named `toString` or `constructor` must not find Object.prototype's member.
    const before = Object.hasOwn(previous, c.type) ? previous[c.type] : undefined;
    for (const v of c.versionNumbers) {
      versions[v] = {
        publishedAt: before?.versions[v]?.publishedAt ?? now.toISOString().slice(0, 10),
        schema: c.jsonSchema(v),
      };
    }
    out[c.type] = {
      type: c.type,
      owner: c.owner,
      currentVersion: c.currentVersion,
      producers: [...c.producers],
      ...(c.deprecated ? { deprecated: c.deprecated } : {}),
      ...(c.window ? { window: c.window } : {}),
      versions,
    };
  }
  return out;
}

const CONTRACT_FILE = 'contract.json';

function stable(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * Writes one folder per type: `contract.json` (owner, producers, versions and their publication dates) and
 * `v<n>.schema.json` (the JSON Schema of each version). Folders of types no longer declared are removed only
 * when `prune` is set, so a type cannot vanish from the snapshot by accident.
 */
export async function writeSnapshot(
  dir: string,
  snapshot: Snapshot,
  options: { prune?: boolean } = {},
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const contract of Object.values(snapshot)) {
    const folder = join(dir, contract.type);
    await mkdir(folder, { recursive: true });
    const { versions, ...meta } = contract;
    const index = {
      ...meta,
      versions: Object.fromEntries(
        Object.entries(versions).map(([v, { publishedAt }]) => [
          v,
          { publishedAt, schema: `v${v}.schema.json` },
        ]),
      ),
    };
    await writeFile(join(folder, CONTRACT_FILE), stable(index));
    written.push(join(folder, CONTRACT_FILE));
    for (const [v, { schema }] of Object.entries(versions)) {
      await writeFile(join(folder, `v${v}.schema.json`), stable(schema));
      written.push(join(folder, `v${v}.schema.json`));
    }
  }
  if (options.prune) {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && !Object.hasOwn(snapshot, entry.name))
        await rm(join(dir, entry.name), { recursive: true });
    }
  }
  return written;
}

/** Reads a snapshot folder; an absent folder is an empty snapshot (nothing published yet). */
export async function readSnapshot(dir: string): Promise<Snapshot> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return {};
    throw error;
  }
  const out: Snapshot = {};
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const folder = join(dir, entry.name);
    let index: Omit<ContractSnapshot, 'versions'> & {
      versions: Record<string, { publishedAt: string; schema: string }>;
    };
    try {
      index = JSON.parse(await readFile(join(folder, CONTRACT_FILE), 'utf8')) as typeof index;
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') continue;
      throw new InvalidContractError(
        `${join(folder, CONTRACT_FILE)} is not valid JSON: ${(error as Error).message}`,
        {},
        error,
      );
    }
    const versions: ContractSnapshot['versions'] = {};
    for (const [v, { publishedAt, schema }] of Object.entries(index.versions)) {
      const file = join(folder, schema);
      try {
        versions[Number(v)] = { publishedAt, schema: JSON.parse(await readFile(file, 'utf8')) as JsonSchema };
      } catch (error) {
        throw new InvalidContractError(
          `The snapshot of ${index.type} v${v} cannot be read from ${file}: ${(error as Error).message}. ` +
            'Restore it from version control, or re-run `eventlane contracts snapshot`.',
          { type: index.type, version: Number(v) },
          error,
        );
      }
    }
    out[index.type] = { ...index, versions };
  }
  return out;
}
