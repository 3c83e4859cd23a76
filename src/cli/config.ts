import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isEventContract } from '../contracts/define-event.js';
import type { Waiver } from '../contracts/compatibility.js';
import type { AnyEventContract, ConsumerLike } from '../contracts/types.js';
import { InvalidContractError } from '../errors.js';
import type { AdminTokens } from '../ops/http/auth.js';

/**
 * What `eventlane.config.ts` exports, as named exports or as the default export. Paths are relative to the
 * config file.
 */
export interface EventlaneConfig {
  /** The event contracts (defineEvent). */
  events?: readonly AnyEventContract[];
  /** Projections and reactors; their handler keys make the consumer lists of the docs. */
  consumers?: readonly ConsumerLike[];
  /** The store the operator commands and `eventlane serve` work on. */
  database?: {
    /** PostgreSQL URL; `DATABASE_URL` wins over it. Keep secrets out of the file: prefer the variable. */
    url?: string;
    /** The store's schema; `--schema` and `EVENTLANE_SCHEMA` win over it. @defaultValue 'eventlane' */
    schema?: string;
  };
  /** `eventlane serve`: the admin API and metrics server. */
  admin?: {
    /** Bearer token(s); `EVENTLANE_ADMIN_TOKEN` wins over it. */
    token?: AdminTokens;
    /** Let GET requests under /api/ through without a token. @defaultValue false */
    openReads?: boolean;
    /** Show parked events' data and metadata as "[redacted]". @defaultValue false */
    redactEventData?: boolean;
    /** @defaultValue 9464 */
    port?: number;
    /** @defaultValue '127.0.0.1' */
    host?: string;
  };
  contracts?: {
    /** Where snapshots live; commit this folder. @defaultValue 'contracts' */
    dir?: string;
    /** Where `contracts docs` writes events.md and asyncapi.json. @defaultValue 'docs/events' */
    docsDir?: string;
    /** Accepted breaking changes, each with its reason. */
    waivers?: readonly Waiver[];
    /** Sample data per type and version for the upcaster check, e.g. golden fixtures. */
    examples?: Record<string, Record<number, readonly unknown[]>>;
    /** Title of the generated docs. */
    title?: string;
    /** Version of the generated AsyncAPI document. */
    version?: string;
  };
}

/** Identity, for type checking a config file: `export default defineConfig({ events: [...] })`. */
export function defineConfig(config: EventlaneConfig): EventlaneConfig {
  return config;
}

export interface LoadedConfig {
  file: string;
  /** The folder of the config file: relative paths in the config start here. */
  root: string;
  config: EventlaneConfig;
}

const DEFAULT_FILES = [
  'eventlane.config.ts',
  'eventlane.config.mts',
  'eventlane.config.js',
  'eventlane.config.mjs',
];

async function importModule(file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  if (!/\.[cm]?ts$/.test(file)) return (await import(url)) as Record<string, unknown>;
  // Node 20 cannot import TypeScript by itself: load it through tsx when the project has it. A variable
  // specifier keeps tsx an optional, undeclared dependency of the published package.
  const tsxApi = 'tsx/esm/api';
  let tsImport: (specifier: string, parent: string) => Promise<unknown>;
  try {
    ({ tsImport } = (await import(tsxApi)) as { tsImport: typeof tsImport });
  } catch (error) {
    throw new InvalidContractError(
      `${file} is TypeScript, and loading it needs tsx (npm install --save-dev tsx). ` +
        'Alternatively compile the config and pass the .js file with --config.',
      { file },
      error,
    );
  }
  return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
}

/**
 * Finds and imports a config file: `path`, or the first `eventlane.config.{ts,mts,js,mjs}` in `cwd`. With
 * `optional`, a missing default file gives undefined (a named file that is missing is always an error). Errors are
 * made by `fail`, so each command group reports them with its own code.
 */
export async function importConfig(
  path: string | undefined,
  cwd: string,
  fail: (message: string, details: Record<string, unknown>, cause?: unknown) => Error,
  optional = false,
): Promise<LoadedConfig | undefined> {
  const candidates = path !== undefined ? [resolve(cwd, path)] : DEFAULT_FILES.map((f) => resolve(cwd, f));
  const file = candidates.find((f) => existsSync(f));
  if (file === undefined) {
    if (optional && path === undefined) return undefined;
    throw fail(
      path !== undefined
        ? `The config file ${candidates[0]} does not exist.`
        : `No eventlane.config.{ts,mts,js,mjs} in ${cwd}. Create one exporting \`events\` (and \`consumers\`), or pass --config.`,
      { path },
    );
  }
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(file);
  } catch (error) {
    // A contract error thrown while the config is evaluated (defineEvent refusing a definition) already says
    // what to fix; anything else is wrapped so the CLI prints the file and the cause, not a bare stack.
    if ((error as { code?: unknown })?.code === 'EVENTLANE_INVALID_CONTRACT') throw error;
    throw fail(`Loading ${file} failed: ${(error as Error)?.message ?? String(error)}`, { file }, error);
  }
  const config = (
    mod.default !== undefined && typeof mod.default === 'object' ? mod.default : mod
  ) as EventlaneConfig;
  return { file, root: dirname(file), config };
}

/** Finds, imports and checks the contracts config. */
export async function loadConfig(path: string | undefined, cwd = process.cwd()): Promise<LoadedConfig> {
  const { file, config, root } = (await importConfig(
    path,
    cwd,
    (message, details, cause) => new InvalidContractError(message, details, cause),
  ))!;
  const events = config.events;
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidContractError(
      `${file} exports no \`events\`: export the array of defineEvent contracts.`,
      {
        file,
      },
    );
  }
  events.forEach((e, i) => {
    if (!isEventContract(e)) {
      throw new InvalidContractError(`${file}: events[${i}] is not a contract made with defineEvent.`, {
        file,
      });
    }
  });
  if (config.consumers !== undefined && !Array.isArray(config.consumers)) {
    throw new InvalidContractError(`${file}: \`consumers\` must be an array of projections and reactors.`, {
      file,
    });
  }
  return { file, root, config };
}
