import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  checkCompatibility,
  defineEvent,
  formatReport,
  readSnapshot,
  snapshotContracts,
  writeSnapshot,
  type AnyEventContract,
  type CompatibilityReport,
  type Waiver,
} from '../src/index.js';
import { events } from './fixtures/contracts/events.js';

const base = z.object({
  orderId: z.string(),
  amount: z.number(),
  currency: z.enum(['EUR', 'USD']),
  note: z.string().optional(),
});

/** A published contract (v1 only): the snapshot every case starts from. */
const published = defineEvent({ type: 'order.paid', owner: 'payments', versions: { 1: base }, upcast: {} });

function edited(v1: z.ZodType): AnyEventContract {
  return defineEvent({
    type: 'order.paid',
    owner: 'payments',
    versions: { 1: v1 as typeof base },
    upcast: {},
  });
}

async function check(contracts: AnyEventContract[], waivers: Waiver[] = []): Promise<CompatibilityReport> {
  return checkCompatibility({
    contracts,
    snapshot: snapshotContracts([published]),
    waivers,
    now: new Date('2026-11-26'),
  });
}

function rules(report: CompatibilityReport): string[] {
  return report.findings.filter((f) => f.severity === 'error' && !f.waived).map((f) => f.rule);
}

describe('compatibility check: breaking changes fail', () => {
  it('published-version-edited: a keyword no finer rule knows', async () => {
    const union = z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('a') }),
      z.object({ kind: z.literal('b') }),
    ]);
    const r = await check([edited(base.extend({ note: union.optional() }))]);
    expect(r.ok).toBe(false);
    expect(rules(r)).toContain('published-version-edited');
  });

  it('field-removed, with a rename hint', async () => {
    const r = await check([edited(base.omit({ note: true }))]);
    expect(rules(r)).toEqual(['field-removed']);
    const renamed = await check([
      edited(
        z.object({
          orderId: z.string(),
          total: z.number(),
          currency: z.enum(['EUR', 'USD']),
          note: z.string().optional(),
        }),
      ),
    ]);
    expect(rules(renamed)).toEqual(['field-removed', 'required-field-added']);
    expect(renamed.findings[0]!.message).toContain('data.amount was removed (renamed to "total"?)');
  });

  it('type-changed', async () => {
    const r = await check([edited(base.extend({ amount: z.string() }))]);
    expect(rules(r)).toEqual(['type-changed']);
    expect(r.findings[0]!.message).toBe('v1 data.amount was number, is now string.');
  });

  it('type-narrowed: number to integer, a new bound, optional to required, a format, a record value', async () => {
    expect(rules(await check([edited(base.extend({ amount: z.number().int() }))]))).toContain(
      'type-narrowed',
    );
    expect(rules(await check([edited(base.extend({ amount: z.number().min(0) }))]))).toEqual([
      'type-narrowed',
    ]);
    expect(rules(await check([edited(base.extend({ note: z.string() }))]))).toEqual(['type-narrowed']);
    expect(rules(await check([edited(base.extend({ orderId: z.string().uuid() }))]))).toContain(
      'type-narrowed',
    );
    const withRecord = defineEvent({
      type: 'order.paid',
      owner: 'p',
      versions: { 1: base.extend({ tags: z.record(z.string(), z.number()) }) },
      upcast: {},
    });
    const recordNarrowed = defineEvent({
      type: 'order.paid',
      owner: 'p',
      versions: { 1: base.extend({ tags: z.record(z.string(), z.number().int()) }) },
      upcast: {},
    });
    const r = await checkCompatibility({
      contracts: [recordNarrowed],
      snapshot: snapshotContracts([withRecord]),
    });
    expect(r.findings.length).toBeGreaterThan(0);
    expect(new Set(r.findings.map((f) => `${f.rule} ${f.path}`))).toEqual(
      new Set(['type-narrowed data.tags.*']),
    );
  });

  it('unions: a dropped branch narrows, a dropped enum value inside a nullable enum is named', async () => {
    const nullable = defineEvent({
      type: 'order.paid',
      owner: 'p',
      versions: {
        1: base.extend({ note: z.string().nullable(), tier: z.enum(['gold', 'silver']).nullable() }),
      },
      upcast: {},
    });
    const snapshot = snapshotContracts([nullable]);
    const notNull = defineEvent({
      type: 'order.paid',
      owner: 'p',
      versions: { 1: base.extend({ note: z.string(), tier: z.enum(['gold']).nullable() }) },
      upcast: {},
    });
    const r = await checkCompatibility({ contracts: [notNull], snapshot });
    expect(r.findings.map((f) => [f.rule, f.path])).toEqual([
      ['type-narrowed', 'data.note'],
      ['enum-value-removed', 'data.tier'],
    ]);
    const widened = defineEvent({
      type: 'order.paid',
      owner: 'p',
      versions: {
        1: base.extend({
          note: z.string().nullable().or(z.number()),
          tier: z.enum(['gold', 'silver', 'bronze']).nullable(),
        }),
      },
      upcast: {},
    });
    expect((await checkCompatibility({ contracts: [widened], snapshot })).findings).toEqual([]);
  });

  it('required-field-added (without a default)', async () => {
    const r = await check([edited(base.extend({ paidBy: z.string() }))]);
    expect(rules(r)).toEqual(['required-field-added']);
  });

  it('enum-value-removed', async () => {
    const r = await check([edited(base.extend({ currency: z.enum(['EUR']) }))]);
    expect(rules(r)).toEqual(['enum-value-removed']);
    expect(r.findings[0]!.message).toContain('no longer accepts the value "USD"');
  });

  it('upcaster-broken: output that the next version refuses', async () => {
    const v2 = defineEvent({
      type: 'order.paid',
      owner: 'payments',
      versions: { 1: base, 2: base.extend({ method: z.enum(['card', 'sepa']) }) },
      upcast: { 1: (v1) => ({ ...v1, method: 'cash' as 'card' }) },
    });
    const r = await check([v2]);
    expect(rules(r)).toEqual(['upcaster-broken']);
    expect(r.findings[0]!.message).toContain('which v2 refuses: method');
  });

  it('upcaster-broken: an upcaster that throws', async () => {
    const v2 = defineEvent({
      type: 'order.paid',
      owner: 'payments',
      versions: { 1: base, 2: base },
      upcast: {
        1: () => {
          throw new Error('not implemented');
        },
      },
    });
    expect(rules(await check([v2]))).toEqual(['upcaster-broken']);
  });

  it('upcaster-missing: a contract object whose chain has a hole', async () => {
    const v2 = defineEvent({
      type: 'order.paid',
      owner: 'payments',
      versions: { 1: base, 2: base },
      upcast: { 1: (d) => d },
    });
    const holed: AnyEventContract = { ...v2, upcaster: () => undefined };
    expect(rules(await check([holed]))).toEqual(['upcaster-missing']);
  });

  it('type-removed and version-removed', async () => {
    expect(rules(await check([]))).toEqual(['type-removed']);
    const two = defineEvent({
      type: 'order.paid',
      owner: 'payments',
      versions: { 1: base, 2: base },
      upcast: { 1: (d) => d },
    });
    const r = await checkCompatibility({ contracts: [published], snapshot: snapshotContracts([two]) });
    expect(rules(r)).toEqual(['version-removed']);
  });
});

describe('compatibility check: additive changes pass', () => {
  it('an optional field, a new enum value, a wider type, a new description', async () => {
    const r = await check([
      edited(
        base
          .extend({
            currency: z.enum(['EUR', 'USD', 'GBP']),
            amount: z.number().or(z.string()),
            coupon: z.string().optional(),
            channel: z.string().default('web'),
          })
          .describe('A payment arrived.'),
      ),
    ]);
    expect(r.findings).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it('a new version with a working upcaster', async () => {
    const v2 = defineEvent({
      type: 'order.paid',
      owner: 'payments',
      versions: { 1: base, 2: base.omit({ note: true }).extend({ method: z.enum(['card', 'sepa']) }) },
      upcast: { 1: ({ note: _note, ...rest }) => ({ ...rest, method: 'card' as const }) },
    });
    const r = await check([v2]);
    expect(r.findings).toEqual([]);
  });

  it('the example contracts against the committed snapshot (test/fixtures/contracts/snapshot)', async () => {
    const snapshot = await readSnapshot(
      fileURLToPath(new URL('./fixtures/contracts/snapshot', import.meta.url)),
    );
    expect(Object.keys(snapshot).sort()).toEqual(['order.created', 'order.paid', 'order.shipped']);
    const r = await checkCompatibility({ contracts: events, snapshot, now: new Date('2026-11-26') });
    expect(r.findings).toEqual([]);
  });

  it('the example contracts against their own snapshot', async () => {
    const r = await checkCompatibility({
      contracts: events,
      snapshot: snapshotContracts(events),
      now: new Date('2026-11-26'),
    });
    expect(r.ok).toBe(true);
  });
});

describe('waivers and the compatibility window', () => {
  it('a waiver with a reason accepts one rule for one type', async () => {
    const r = await check(
      [edited(base.omit({ note: true }))],
      [
        {
          type: 'order.paid',
          rule: 'field-removed',
          reason: 'note was never filled in production (checked 2026-11-20)',
        },
      ],
    );
    expect(r.ok).toBe(true);
    expect(r.findings[0]).toMatchObject({
      rule: 'field-removed',
      waived: expect.stringContaining('never filled'),
    });
    expect(formatReport(r)).toContain('waived');
  });

  it('a waiver of another rule or type does not help; an unused waiver is reported', async () => {
    const r = await check(
      [edited(base.omit({ note: true }))],
      [
        { type: 'order.paid', rule: 'type-changed', reason: 'x' },
        { type: 'order.created', rule: 'field-removed', reason: 'x' },
      ],
    );
    expect(r.ok).toBe(false);
    expect(r.findings.filter((f) => f.rule === 'unused-waiver')).toHaveLength(2);
  });

  it('refuses a waiver without a reason or of an unknown rule', async () => {
    await expect(
      check([published], [{ type: 'order.paid', rule: 'field-removed', reason: ' ' }]),
    ).rejects.toThrow(/no reason/);
    await expect(
      check([published], [{ type: 'order.paid', rule: 'nope' as 'field-removed', reason: 'r' }]),
    ).rejects.toThrow(/does not exist/);
  });

  it('reports versions outside the window and past sunsets as warnings', async () => {
    const three = defineEvent({
      type: 'order.paid',
      owner: 'payments',
      versions: { 1: base, 2: base, 3: base },
      upcast: { 1: (d) => d, 2: (d) => d },
      window: { versions: 2 },
      deprecated: { since: '2026-01-01', sunset: '2026-06-01' },
    });
    const r = await check([three]);
    expect(r.ok).toBe(true);
    expect(r.findings.map((f) => [f.rule, f.version, f.severity])).toEqual([
      ['outside-window', 1, 'warning'],
      ['past-sunset', undefined, 'warning'],
    ]);
    const dated = defineEvent({
      type: 'order.paid',
      owner: 'payments',
      versions: { 1: base, 2: base },
      upcast: { 1: (d) => d },
      window: { until: '2026-03-31' },
    });
    expect((await check([dated])).findings.map((f) => [f.rule, f.version])).toEqual([['outside-window', 1]]);
  });
});

describe('snapshot files', () => {
  it('round-trips through a folder of JSON Schema files and keeps publication dates', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'eventlane-snap-'));
    const first = snapshotContracts(events, {}, new Date('2026-01-02'));
    await writeSnapshot(dir, first);
    expect((await readdir(join(dir, 'order.created'))).sort()).toEqual([
      'contract.json',
      'v1.schema.json',
      'v2.schema.json',
      'v3.schema.json',
    ]);
    const schema = JSON.parse(await readFile(join(dir, 'order.paid', 'v2.schema.json'), 'utf8'));
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    const read = await readSnapshot(dir);
    expect(read).toEqual(first);
    const again = snapshotContracts(events, read, new Date('2027-01-01'));
    expect(again['order.paid']!.versions[1]!.publishedAt).toBe('2026-01-02');
    expect(await readSnapshot(join(dir, 'absent'))).toEqual({});
  });
});

describe('event types named like Object.prototype members', () => {
  it('snapshot and check treat them as any other type', async () => {
    const names = ['constructor', 'toString', 'valueOf', 'hasOwnProperty'];
    const contracts = names.map((type) =>
      defineEvent({ type, owner: 'team', versions: { 1: z.object({ id: z.string() }) }, upcast: {} }),
    );
    const first = snapshotContracts(contracts, {}, new Date('2026-01-02'));
    expect(Object.keys(first).sort()).toEqual([...names].sort());
    for (const type of names) expect(first[type]!.versions[1]!.publishedAt).toBe('2026-01-02');
    const report = await checkCompatibility({ contracts, snapshot: first, examples: {} });
    expect(report.findings).toEqual([]);
    // A type the snapshot has never seen, and examples that do not mention it: nothing from Object.prototype.
    const fresh = snapshotContracts(contracts, {}, new Date('2026-03-04'));
    const toStringType: string = 'toString';
    expect(fresh[toStringType]!.versions[1]!.publishedAt).toBe('2026-03-04');
  });
});
