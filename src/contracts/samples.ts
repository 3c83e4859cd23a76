/**
 * Sample data generated from a JSON Schema, to exercise upcasters in `contracts check`: one sample with only
 * the required fields and one with every field. Samples that do not pass their own schema (a `pattern` we
 * cannot satisfy, say) are dropped by the caller; user-supplied examples cover those types.
 */
import type { JsonSchema } from './snapshot.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const FORMATS: Record<string, string> = {
  'date-time': '2026-01-01T00:00:00Z',
  date: '2026-01-01',
  time: '00:00:00',
  email: 'someone@example.com',
  uuid: '01890a5d-ac96-774b-bcce-b302099a8057',
  uri: 'https://example.com/',
  url: 'https://example.com/',
};

function sampleOf(schema: JsonSchema, full: boolean, depth: number): Json {
  if (depth > 8) return null;
  if ('const' in schema) return schema.const as Json;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0] as Json;
  if (schema.default !== undefined) return schema.default as Json;
  if (Array.isArray(schema.anyOf) && schema.anyOf.length > 0)
    return sampleOf(schema.anyOf[0] as JsonSchema, full, depth + 1);
  if (Array.isArray(schema.oneOf) && schema.oneOf.length > 0)
    return sampleOf(schema.oneOf[0] as JsonSchema, full, depth + 1);
  const type = Array.isArray(schema.type) ? (schema.type[0] as string) : (schema.type as string | undefined);
  switch (type) {
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const required = new Set((schema.required ?? []) as string[]);
      const out: Record<string, Json> = {};
      for (const [key, prop] of Object.entries(props)) {
        if (full || required.has(key)) out[key] = sampleOf(prop, full, depth + 1);
      }
      return out;
    }
    case 'array': {
      const min = typeof schema.minItems === 'number' ? schema.minItems : 0;
      const count = full ? Math.max(1, min) : min;
      return Array.from({ length: count }, () =>
        sampleOf((schema.items ?? {}) as JsonSchema, full, depth + 1),
      );
    }
    case 'string': {
      if (typeof schema.format === 'string' && FORMATS[schema.format]) return FORMATS[schema.format]!;
      const min = typeof schema.minLength === 'number' ? schema.minLength : 1;
      return 'x'.repeat(Math.max(min, 1));
    }
    case 'integer':
    case 'number': {
      let n = 1;
      if (typeof schema.minimum === 'number') n = Math.max(n, schema.minimum);
      if (typeof schema.exclusiveMinimum === 'number')
        n = Math.max(n, Math.floor(schema.exclusiveMinimum) + 1);
      if (typeof schema.maximum === 'number') n = Math.min(n, schema.maximum);
      return n;
    }
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return null;
  }
}

/** A minimal sample (required fields) and a full one (every field). */
export function samplesFromSchema(schema: JsonSchema): Json[] {
  return [sampleOf(schema, false, 0), sampleOf(schema, true, 0)];
}
