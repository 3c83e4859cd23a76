/**
 * Compares two JSON Schemas of the same published version and names each change that would break a reader
 * of events stored under the old one. Additive changes (an optional field, a widened type, a new enum value,
 * new descriptions) are not reported.
 */
import type { JsonSchema } from './snapshot.js';

export type DiffRule =
  | 'field-removed'
  | 'type-changed'
  | 'type-narrowed'
  | 'required-field-added'
  | 'enum-value-removed'
  | 'published-version-edited';

export interface SchemaChange {
  rule: DiffRule;
  /** Where, as a data path: `data.items[].sku`. */
  path: string;
  message: string;
}

/** Keywords that document rather than constrain: changes to them never break a reader. */
const ANNOTATIONS = new Set([
  '$schema',
  '$id',
  '$comment',
  'title',
  'description',
  'examples',
  'deprecated',
  'readOnly',
  'writeOnly',
]);
/** Keywords this comparison understands; any other difference is reported as a plain edit. */
const HANDLED = new Set([
  'type',
  'enum',
  'const',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'anyOf',
  'default',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'pattern',
  'format',
  'multipleOf',
]);

function strip(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strip);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(schema).sort()) {
    if (!ANNOTATIONS.has(key)) out[key] = strip((schema as Record<string, unknown>)[key]);
  }
  return out;
}

export function sameSchema(a: unknown, b: unknown): boolean {
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}

function asSchema(value: unknown): JsonSchema {
  return typeof value === 'object' && value !== null ? (value as JsonSchema) : {};
}

function typesOf(s: JsonSchema): string[] | undefined {
  if (typeof s.type === 'string') return [s.type];
  if (Array.isArray(s.type)) return s.type as string[];
  return undefined;
}

function covers(types: string[], t: string): boolean {
  return types.includes(t) || (t === 'integer' && types.includes('number'));
}

function valuesOf(s: JsonSchema): unknown[] | undefined {
  if (Array.isArray(s.enum)) return s.enum as unknown[];
  if ('const' in s) return [s.const];
  return undefined;
}

function show(value: unknown): string {
  return JSON.stringify(value);
}

function summary(s: JsonSchema): string {
  const types = typesOf(s);
  if (types) return types.join(' | ');
  const values = valuesOf(s);
  if (values) return values.map(show).join(' | ');
  return show(strip(s));
}

/** Lower bounds that may only go down and upper bounds that may only go up, or readers of old data break. */
const LOWER = ['minimum', 'exclusiveMinimum', 'minLength', 'minItems'] as const;
const UPPER = ['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems'] as const;

export function diffSchemas(oldSchema: JsonSchema, newSchema: JsonSchema, path = 'data'): SchemaChange[] {
  const out: SchemaChange[] = [];
  compare(oldSchema, newSchema, path, out);
  return out;
}

function compare(o: JsonSchema, n: JsonSchema, path: string, out: SchemaChange[]): void {
  if (sameSchema(o, n)) return;

  // Unions: every old branch must still be accepted by some new branch.
  const oBranches = Array.isArray(o.anyOf) ? (o.anyOf as JsonSchema[]) : undefined;
  const nBranches = Array.isArray(n.anyOf) ? (n.anyOf as JsonSchema[]) : undefined;
  if (oBranches || nBranches) {
    const olds = oBranches ?? [o];
    const news = nBranches ?? [n];
    for (const branch of olds) {
      if (news.some((b) => sameSchema(b, branch))) continue;
      // One branch that changed in place (the same kind of value): compare inside it.
      const twin = news.find((b) => summary(b) === summary(branch) || sameKind(b, branch));
      if (twin && olds.length === news.length) compare(branch, twin, path, out);
      else
        out.push({ rule: 'type-narrowed', path, message: `${path} no longer accepts ${summary(branch)}.` });
    }
    return;
  }

  const ot = typesOf(o);
  const nt = typesOf(n);
  if (ot && nt) {
    const lost = ot.filter((t) => !covers(nt, t));
    // number → integer keeps some of the old values: a narrowing, not a change of type.
    const narrowed = lost.filter((t) => t === 'number' && nt.includes('integer'));
    if (lost.length === ot.length && narrowed.length === 0) {
      out.push({
        rule: 'type-changed',
        path,
        message: `${path} was ${ot.join(' | ')}, is now ${nt.join(' | ')}.`,
      });
      return;
    }
    if (lost.length > 0) {
      out.push({ rule: 'type-narrowed', path, message: `${path} no longer accepts ${lost.join(' | ')}.` });
    }
  } else if (!ot && nt && !valuesOf(o)) {
    out.push({
      rule: 'type-narrowed',
      path,
      message: `${path} accepted any value, now only ${nt.join(' | ')}.`,
    });
  }

  const ov = valuesOf(o);
  const nv = valuesOf(n);
  if (nv && !ov) {
    out.push({
      rule: 'type-narrowed',
      path,
      message: `${path} is now restricted to ${nv.map(show).join(', ')}.`,
    });
  } else if (ov && nv) {
    const kept = new Set(nv.map(show));
    for (const value of ov) {
      if (!kept.has(show(value))) {
        out.push({
          rule: 'enum-value-removed',
          path,
          message: `${path} no longer accepts the value ${show(value)}.`,
        });
      }
    }
  }

  if (
    o.properties !== undefined ||
    n.properties !== undefined ||
    o.additionalProperties !== undefined ||
    n.additionalProperties !== undefined
  ) {
    compareObject(o, n, path, out);
  }
  if (o.items !== undefined || n.items !== undefined)
    compare(asSchema(o.items), asSchema(n.items), `${path}[]`, out);

  for (const key of LOWER) {
    const a = o[key] as number | undefined;
    const b = n[key] as number | undefined;
    if (b !== undefined && (a === undefined || b > a)) {
      out.push({
        rule: 'type-narrowed',
        path,
        message: `${path}: ${key} ${a === undefined ? 'added' : `raised from ${a}`} to ${b}.`,
      });
    }
  }
  for (const key of UPPER) {
    const a = o[key] as number | undefined;
    const b = n[key] as number | undefined;
    if (b !== undefined && (a === undefined || b < a)) {
      out.push({
        rule: 'type-narrowed',
        path,
        message: `${path}: ${key} ${a === undefined ? 'added' : `lowered from ${a}`} to ${b}.`,
      });
    }
  }
  for (const key of ['pattern', 'format', 'multipleOf'] as const) {
    if (n[key] !== undefined && show(n[key]) !== show(o[key])) {
      out.push({
        rule: 'type-narrowed',
        path,
        message: `${path}: ${key} ${o[key] === undefined ? 'added' : `changed from ${show(o[key])}`} to ${show(n[key])}.`,
      });
    }
  }

  const others = new Set(
    [...Object.keys(o), ...Object.keys(n)].filter((k) => !ANNOTATIONS.has(k) && !HANDLED.has(k)),
  );
  for (const key of others) {
    if (!sameSchema(o[key], n[key])) {
      out.push({
        rule: 'published-version-edited',
        path,
        message: `${path}: "${key}" changed (${show(o[key])} → ${show(n[key])}).`,
      });
    }
  }
}

function sameKind(a: JsonSchema, b: JsonSchema): boolean {
  const ta = typesOf(a);
  const tb = typesOf(b);
  return ta !== undefined && tb !== undefined && ta.some((t) => covers(tb, t) || covers([t], tb[0]!));
}

function compareObject(o: JsonSchema, n: JsonSchema, path: string, out: SchemaChange[]): void {
  const op = (o.properties ?? {}) as Record<string, JsonSchema>;
  const np = (n.properties ?? {}) as Record<string, JsonSchema>;
  const oreq = new Set((o.required ?? []) as string[]);
  const nreq = new Set((n.required ?? []) as string[]);
  const added = Object.keys(np).filter((k) => !(k in op));
  for (const key of Object.keys(op)) {
    const at = `${path}.${key}`;
    if (!(key in np)) {
      const hint = added.length > 0 ? ` (renamed to ${added.map((a) => `"${a}"`).join(' or ')}?)` : '';
      out.push({
        rule: 'field-removed',
        path: at,
        message: `${at} was removed${hint}; stored events still carry it.`,
      });
      continue;
    }
    if (!oreq.has(key) && nreq.has(key) && np[key]!.default === undefined) {
      out.push({ rule: 'type-narrowed', path: at, message: `${at} was optional and is now required.` });
    }
    compare(op[key]!, np[key]!, at, out);
  }
  for (const key of added) {
    if (nreq.has(key) && np[key]!.default === undefined) {
      out.push({
        rule: 'required-field-added',
        path: `${path}.${key}`,
        message:
          `${path}.${key} was added as required without a default; events stored without it no longer match. ` +
          'Make it optional, give it a default, or declare a new version with an upcaster.',
      });
    }
  }
  const oa = o.additionalProperties;
  const na = n.additionalProperties;
  if (oa !== false && na === false) {
    out.push({ rule: 'type-narrowed', path, message: `${path} no longer accepts unknown fields.` });
  } else if (typeof oa === 'object' && oa !== null && typeof na === 'object' && na !== null) {
    // Records (z.record): the schema of every value.
    compare(oa as JsonSchema, na as JsonSchema, `${path}.*`, out);
  }
}
