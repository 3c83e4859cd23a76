import { lstat, mkdir, readdir, readFile, realpath, rm, rmdir, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InvalidSnapshotError } from '../errors.js';
import { checkEventType } from '../events/names.js';
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
const SCHEMA_FILE = /^v([1-9][0-9]{0,8})\.schema\.json$/;
/** Old snapshots nested a type with `/` in folders (`billing/order.paid/`); types have at most this many. */
const MAX_NESTING = 64;

function stable(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * The folder name of a type: letters, digits, `_`, `.` and `-` stay, anything else (`/`, `:`) is percent-encoded,
 * so every type maps to one folder name and back, on every file system.
 */
export function snapshotFolderName(type: string): string {
  return type.replace(
    /[^A-Za-z0-9_.-]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
}

/** A value from a snapshot file, quoted for a message: short, and never more than the value itself. */
function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** The snapshot folder's real path, for the containment checks; undefined when it does not exist. */
async function realRoot(dir: string): Promise<string | undefined> {
  try {
    return await realpath(dir);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Reads a file of the snapshot, refusing one whose real path (symbolic links followed) leaves `root`. Errors name
 * the file, never its content. Returns undefined for a missing file when `optional`.
 */
async function readInside(root: string, file: string, optional = false): Promise<unknown> {
  let real: string;
  try {
    real = await realpath(file);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT' && optional) return undefined;
    throw new InvalidSnapshotError(
      `${file} cannot be read (${(error as { code?: string }).code ?? 'error'}). Restore it from version ` +
        'control, or re-run `eventlane contracts snapshot`.',
      { file },
    );
  }
  if (!inside(root, real)) {
    throw new InvalidSnapshotError(
      `${file} is a symbolic link to a file outside the snapshot folder ${root}; a snapshot only reads its own ` +
        'files. Replace the link with the file.',
      { file },
    );
  }
  let text: string;
  try {
    text = await readFile(real, 'utf8');
  } catch (error) {
    throw new InvalidSnapshotError(
      `${file} cannot be read (${(error as { code?: string }).code ?? 'error'}); it should be a JSON file.`,
      { file },
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    // JSON.parse quotes the text it choked on: keep only where.
    const at = /position (\d+)/.exec((error as Error).message)?.[1];
    throw new InvalidSnapshotError(
      `${file} is not valid JSON${at === undefined ? '' : ` (at character ${at})`}. Restore it from version ` +
        'control, or re-run `eventlane contracts snapshot`.',
      { file },
    );
  }
}

interface IndexFile {
  type: string;
  versions: Record<string, { publishedAt: string; schema: string }>;
  [key: string]: unknown;
}

function isEventType(value: unknown): value is string {
  try {
    checkEventType(value, 'type');
    return true;
  } catch {
    return false;
  }
}

function checkIndex(file: string, value: unknown): IndexFile {
  const index = value as Partial<IndexFile> | null;
  if (typeof index !== 'object' || index === null || Array.isArray(index)) {
    throw new InvalidSnapshotError(`${file} does not hold an object.`, { file });
  }
  if (!isEventType(index.type)) {
    throw new InvalidSnapshotError(`${file} has no valid event type (type: ${quote(index.type)}).`, { file });
  }
  const versions = index.versions;
  if (typeof versions !== 'object' || versions === null || Array.isArray(versions)) {
    throw new InvalidSnapshotError(`${file} has no versions object.`, { file, type: index.type });
  }
  for (const [v, entry] of Object.entries(versions)) {
    const e = entry as { publishedAt?: unknown; schema?: unknown } | null;
    if (!/^[1-9][0-9]{0,8}$/.test(v) || typeof e?.publishedAt !== 'string' || typeof e.schema !== 'string') {
      throw new InvalidSnapshotError(
        `${file}: version ${quote(v)} of ${index.type} needs a publishedAt and a schema file name.`,
        { file, type: index.type },
      );
    }
  }
  return index as IndexFile;
}

/** Reads the schema files one contract.json names, each confined to the folder of its type. */
async function readVersions(
  root: string,
  folder: string,
  index: IndexFile,
): Promise<ContractSnapshot['versions']> {
  const versions: ContractSnapshot['versions'] = {};
  for (const [v, { publishedAt, schema }] of Object.entries(index.versions)) {
    const file = resolve(folder, schema);
    if (!inside(folder, file) || file === folder) {
      throw new InvalidSnapshotError(
        `The snapshot of ${index.type} v${v} names the schema file ${quote(schema)}, outside its folder ${folder}. ` +
          `A snapshot only reads its own files: restore contract.json (it names v${v}.schema.json) from version ` +
          'control, or re-run `eventlane contracts snapshot`.',
        { type: index.type, version: Number(v), schema },
      );
    }
    const value = await readInside(root, file);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new InvalidSnapshotError(`${file} does not hold a JSON Schema object.`, {
        file,
        type: index.type,
      });
    }
    versions[Number(v)] = { publishedAt, schema: value as JsonSchema };
  }
  return versions;
}

/** A type found in a folder, and whether the folder follows the current naming (it wins over an old one). */
interface Found {
  snapshot: ContractSnapshot;
  current: boolean;
}

async function readFolder(root: string, path: string[], found: Map<string, Found>): Promise<void> {
  const folder = join(root, ...path);
  const raw = path.length === 0 ? undefined : await readInside(root, join(folder, CONTRACT_FILE), true);
  if (raw !== undefined) {
    const file = join(folder, CONTRACT_FILE);
    const index = checkIndex(file, raw);
    const current = path.length === 1 && path[0] === snapshotFolderName(index.type);
    // The old naming: the type as a path (`billing/order.paid/`, or `a:b/`).
    if (!current && path.join('/') !== index.type) {
      throw new InvalidSnapshotError(
        `${file} holds the contract of ${index.type}, but its folder should be named ` +
          `${quote(snapshotFolderName(index.type))}. Restore the folder from version control, or re-run ` +
          '`eventlane contracts snapshot`.',
        { file, type: index.type },
      );
    }
    const previous = found.get(index.type);
    if (previous === undefined || (current && !previous.current)) {
      const { versions: _, ...meta } = index;
      const snapshot = { ...meta, versions: await readVersions(root, folder, index) } as ContractSnapshot;
      found.set(index.type, { snapshot, current });
    }
  }
  if (path.length >= MAX_NESTING) return;
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const child = join(folder, entry.name);
    if (entry.isSymbolicLink()) {
      const real = await realpath(child).catch(() => undefined);
      if (real === undefined) continue;
      if (!inside(root, real)) {
        throw new InvalidSnapshotError(
          `${child} is a symbolic link out of the snapshot folder ${root}; a snapshot only reads its own files. ` +
            'Replace the link with the folder.',
          { file: child },
        );
      }
      if (!(await lstat(real)).isDirectory()) continue;
    } else if (!entry.isDirectory()) continue;
    await readFolder(root, [...path, entry.name], found);
  }
}

/**
 * Reads a snapshot folder; an absent folder is an empty snapshot (nothing published yet). Every file it reads
 * stays inside the folder: a `schema` path leading out of its type's folder, or a symbolic link leading out of the
 * snapshot folder, is refused with `EVENTLANE_INVALID_SNAPSHOT`, and no error quotes a file's content. Folders of
 * the old naming (a type with `/` as nested folders) are still read; the current naming wins over them.
 */
export async function readSnapshot(dir: string): Promise<Snapshot> {
  const root = await realRoot(dir);
  if (root === undefined) return {};
  const found = new Map<string, Found>();
  await readFolder(root, [], found);
  const out: Snapshot = {};
  for (const [type, { snapshot }] of found) out[type] = snapshot;
  return out;
}

/** Removes the files an earlier release wrote for `type` at `type` as a path, and the folders left empty. */
async function removeOldFolder(dir: string, type: string): Promise<void> {
  const segments = type.split('/');
  const old = join(dir, ...segments);
  if (old === join(dir, snapshotFolderName(type))) return;
  const root = await realRoot(dir);
  const raw = root && (await readInside(root, join(old, CONTRACT_FILE), true).catch(() => undefined));
  if ((raw as { type?: unknown } | undefined)?.type !== type) return;
  for (const entry of await readdir(old, { withFileTypes: true })) {
    if (entry.isFile() && (entry.name === CONTRACT_FILE || SCHEMA_FILE.test(entry.name))) {
      await rm(join(old, entry.name));
    }
  }
  for (let depth = segments.length; depth >= 1; depth--) {
    const folder = join(dir, ...segments.slice(0, depth));
    if ((await readdir(folder)).length > 0) break;
    await rmdir(folder);
  }
}

/**
 * Writes one folder per type, named after the type with every character other than letters, digits, `_`, `.` and
 * `-` percent-encoded (`billing/order.paid` → `billing%2Forder.paid`): `contract.json` (type, owner, producers,
 * versions and their publication dates) and `v<n>.schema.json` (the JSON Schema of each version). Folders of types
 * no longer declared are removed only when `prune` is set, so a type cannot vanish from the snapshot by accident.
 * The files an earlier release wrote for the same type at `billing/order.paid/` are replaced by the new folder.
 */
export async function writeSnapshot(
  dir: string,
  snapshot: Snapshot,
  options: { prune?: boolean } = {},
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const folders = new Set<string>();
  for (const contract of Object.values(snapshot)) {
    const name = snapshotFolderName(contract.type);
    folders.add(name);
    const folder = join(dir, name);
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
    await removeOldFolder(dir, contract.type);
  }
  if (options.prune) {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && !folders.has(entry.name))
        await rm(join(dir, entry.name), { recursive: true });
    }
  }
  return written;
}
