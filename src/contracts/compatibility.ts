import type { StandardSchemaV1 } from '@standard-schema/spec';
import { InvalidContractError } from '../errors.js';
import { samplesFromSchema } from './samples.js';
import { diffSchemas, type DiffRule } from './schema-diff.js';
import { snapshotContracts, type Snapshot } from './snapshot.js';
import type { AnyEventContract } from './types.js';

/** Every rule of the compatibility check, by its stable name (what waivers refer to). */
export const COMPATIBILITY_RULES = {
  'type-removed': 'A published event type is no longer declared: stored events of it cannot be read.',
  'version-removed': 'A published version is no longer declared.',
  'published-version-edited': 'A published version’s schema was edited in a way no finer rule describes.',
  'field-removed': 'A field of a published version was removed or renamed.',
  'type-changed': 'A field of a published version changed to another type.',
  'type-narrowed':
    'A field of a published version accepts less than before (a type, a bound, a format, optional → required).',
  'required-field-added': 'A required field without a default was added to a published version.',
  'enum-value-removed': 'An enum value of a published version was removed.',
  'upcaster-missing': 'A version before the current one has no upcaster to the next.',
  'upcaster-broken': 'An upcaster throws, or its output does not match the next version’s schema.',
  'outside-window': 'A version is older than the type’s compatibility window (a warning: it may be retired).',
  'past-sunset': 'A deprecated type is past its sunset date (a warning).',
  'unused-waiver': 'A waiver matched nothing (a warning: remove it).',
} as const satisfies Record<DiffRule, string> & Record<string, string>;

export type CompatibilityRule = keyof typeof COMPATIBILITY_RULES;

const WARNINGS = new Set<CompatibilityRule>(['outside-window', 'past-sunset', 'unused-waiver']);

/** Accepts one rule's findings for one type, with the reason on record. */
export interface Waiver {
  type: string;
  rule: CompatibilityRule;
  reason: string;
  /** Only findings of this version. @defaultValue every version */
  version?: number;
}

export interface Finding {
  type: string;
  version?: number;
  rule: CompatibilityRule;
  severity: 'error' | 'warning';
  path?: string;
  message: string;
  /** Set when a waiver accepted this finding. */
  waived?: string;
}

export interface CompatibilityReport {
  /** False when any unwaived error was found. */
  ok: boolean;
  findings: Finding[];
}

export interface CheckOptions {
  contracts: readonly AnyEventContract[];
  /** The committed snapshot (`readSnapshot`). */
  snapshot: Snapshot;
  waivers?: readonly Waiver[];
  /** Extra sample data per type and version, for the upcaster check (e.g. the golden fixtures). */
  examples?: Record<string, Record<number, readonly unknown[]>>;
  /** For the window and sunset checks. @defaultValue now */
  now?: Date;
}

async function validates(
  schema: StandardSchemaV1,
  value: unknown,
): Promise<readonly StandardSchemaV1.Issue[] | undefined> {
  const result = await schema['~standard'].validate(value);
  return result.issues;
}

async function checkUpcasters(
  contract: AnyEventContract,
  examples: Record<number, readonly unknown[]> | undefined,
  out: Finding[],
): Promise<void> {
  for (const v of contract.versionNumbers) {
    if (v === contract.currentVersion) continue;
    const step = contract.upcaster(v);
    if (step === undefined) {
      out.push({
        type: contract.type,
        version: v,
        rule: 'upcaster-missing',
        severity: 'error',
        message: `v${v} has no upcaster to v${v + 1}; stored v${v} events cannot be read as the current version.`,
      });
      continue;
    }
    const own = contract.schemas[v]!;
    const next = contract.schemas[v + 1]!;
    const candidates = [...samplesFromSchema(contract.jsonSchema(v)), ...(examples?.[v] ?? [])];
    for (const sample of candidates) {
      // Generated samples that their own schema refuses say nothing about the upcaster: skip them.
      if ((await validates(own, sample)) !== undefined) continue;
      let output: unknown;
      try {
        output = step(structuredClone(sample));
      } catch (error) {
        out.push({
          type: contract.type,
          version: v,
          rule: 'upcaster-broken',
          severity: 'error',
          message: `the upcaster v${v} → v${v + 1} throws on ${JSON.stringify(sample)}: ${(error as Error)?.message ?? String(error)}`,
        });
        break;
      }
      const issues = await validates(next, output);
      if (issues !== undefined) {
        const first = issues[0];
        out.push({
          type: contract.type,
          version: v,
          rule: 'upcaster-broken',
          severity: 'error',
          message:
            `the upcaster v${v} → v${v + 1} turns ${JSON.stringify(sample)} into ${JSON.stringify(output)}, ` +
            `which v${v + 1} refuses: ${first ? `${(first.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.') || '(root)'}: ${first.message}` : ''}`,
        });
        break;
      }
    }
  }
}

function checkWindow(contract: AnyEventContract, now: Date, out: Finding[]): void {
  const window = contract.window;
  const outside = new Set<number>();
  if (window?.versions !== undefined) {
    for (const v of contract.versionNumbers)
      if (v <= contract.currentVersion - window.versions) outside.add(v);
  }
  if (window?.until !== undefined && now.getTime() > Date.parse(window.until)) {
    for (const v of contract.versionNumbers) if (v !== contract.currentVersion) outside.add(v);
  }
  for (const v of outside) {
    out.push({
      type: contract.type,
      version: v,
      rule: 'outside-window',
      severity: 'warning',
      message:
        `v${v} is outside the compatibility window (${window?.versions !== undefined ? `the last ${window.versions} versions` : ''}` +
        `${window?.versions !== undefined && window.until !== undefined ? ', ' : ''}${window?.until !== undefined ? `until ${window.until}` : ''}): ` +
        'archive or migrate its stored events, then its upcaster can be retired.',
    });
  }
  const sunset = contract.deprecated?.sunset;
  if (sunset !== undefined && now.getTime() > Date.parse(sunset)) {
    out.push({
      type: contract.type,
      rule: 'past-sunset',
      severity: 'warning',
      message: `deprecated since ${contract.deprecated!.since}, sunset ${sunset} has passed: remove its producers, then the type.`,
    });
  }
}

/**
 * Compares the declared contracts with the committed snapshot. Published versions may only change in ways
 * every reader of their stored events survives (an optional field, a wider type, a new enum value); new
 * versions are free as long as the upcaster chain reaches them.
 */
export async function checkCompatibility(options: CheckOptions): Promise<CompatibilityReport> {
  const now = options.now ?? new Date();
  const findings: Finding[] = [];
  const current = snapshotContracts(options.contracts, options.snapshot, now);
  const byType = new Map(options.contracts.map((c) => [c.type, c]));

  for (const [type, published] of Object.entries(options.snapshot)) {
    const contract = byType.get(type);
    if (contract === undefined) {
      findings.push({
        type,
        rule: 'type-removed',
        severity: 'error',
        message: `${type} is in the snapshot but no contract declares it; its stored events would read as undeclared.`,
      });
      continue;
    }
    for (const [key, { schema }] of Object.entries(published.versions)) {
      const v = Number(key);
      const now = current[type]!.versions[v];
      if (now === undefined) {
        findings.push({
          type,
          version: v,
          rule: 'version-removed',
          severity: 'error',
          message: `v${v} is published but no longer declared (the contract is at v${contract.currentVersion}).`,
        });
        continue;
      }
      for (const change of diffSchemas(schema, now.schema)) {
        findings.push({ type, version: v, severity: 'error', ...change, message: `v${v} ${change.message}` });
      }
    }
  }
  for (const contract of options.contracts) {
    const examples =
      options.examples && Object.hasOwn(options.examples, contract.type)
        ? options.examples[contract.type]
        : undefined;
    await checkUpcasters(contract, examples, findings);
    checkWindow(contract, now, findings);
  }

  const waivers = options.waivers ?? [];
  for (const [i, w] of waivers.entries()) {
    if (typeof w.reason !== 'string' || w.reason.trim() === '') {
      throw new InvalidContractError(
        `waivers[${i}] (${w.type} ${w.rule}) has no reason; every waiver needs one on record.`,
      );
    }
    if (!(w.rule in COMPATIBILITY_RULES)) {
      throw new InvalidContractError(
        `waivers[${i}] names the rule ${JSON.stringify(w.rule)}, which does not exist. Rules: ${Object.keys(COMPATIBILITY_RULES).join(', ')}.`,
      );
    }
  }
  const used = new Set<Waiver>();
  for (const f of findings) {
    const waiver = waivers.find(
      (w) => w.type === f.type && w.rule === f.rule && (w.version === undefined || w.version === f.version),
    );
    if (waiver) {
      f.waived = waiver.reason;
      used.add(waiver);
    }
  }
  for (const w of waivers) {
    if (!used.has(w)) {
      findings.push({
        type: w.type,
        rule: 'unused-waiver',
        severity: 'warning',
        message: `the waiver of ${w.rule}${w.version === undefined ? '' : ` (v${w.version})`} matched nothing; remove it.`,
      });
    }
  }
  for (const f of findings) if (WARNINGS.has(f.rule)) f.severity = 'warning';
  return { ok: !findings.some((f) => f.severity === 'error' && f.waived === undefined), findings };
}

/** The report as people read it in a terminal or a CI log. */
export function formatReport(report: CompatibilityReport): string {
  const errors = report.findings.filter((f) => f.severity === 'error' && f.waived === undefined);
  const waived = report.findings.filter((f) => f.waived !== undefined);
  const warnings = report.findings.filter((f) => f.severity === 'warning' && f.waived === undefined);
  const lines: string[] = [];
  lines.push(
    report.ok
      ? `Contracts are compatible with the snapshot (${waived.length} waived, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}).`
      : `${errors.length} breaking change${errors.length === 1 ? '' : 's'} (${waived.length} waived, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}):`,
  );
  const types = [...new Set(report.findings.map((f) => f.type))].sort();
  for (const type of types) {
    lines.push('', type);
    for (const f of report.findings.filter((x) => x.type === type)) {
      const mark = f.waived !== undefined ? 'waived' : f.severity === 'error' ? 'BREAKING' : 'warning';
      lines.push(
        `  ${mark.padEnd(8)} ${f.rule.padEnd(24)} ${f.message}${f.waived !== undefined ? ` — waived: ${f.waived}` : ''}`,
      );
    }
  }
  if (!report.ok) {
    lines.push(
      '',
      'Declare a new version with an upcaster instead of editing a published one, or waive a rule for a type ' +
        'with a reason (waivers in the contracts config) when every reader is known to cope.',
    );
  }
  return lines.join('\n');
}
