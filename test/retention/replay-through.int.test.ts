import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  archive,
  compareCheckpoints,
  createProjections,
  createReplay,
  defineProjection,
  defineReactor,
  type EventStore,
  type ProjectionContext,
  type StoredEvent,
} from '../../src/index.js';
import { quoteIdent } from '../../src/store/names.js';
import { storeTargets } from '../support/stores.js';
import { scaled } from '../support/time.js';
import { settle } from '../replay/helpers.js';
import { checkpointAt, fill, hotCount, openTarget, readAll, tempDir } from './helpers.js';

/**
 * The archive's kill points, made to stop the run in this process instead of killing it: `stop.at = 'delete:3'`
 * throws after the third deletion batch committed, which leaves the table as a kill -9 there would.
 */
const stop = vi.hoisted(() => ({ at: '', reached: 0 }));
vi.mock('../../src/retention/kill-points.js', () => ({
  killPoint: (point: string): void => {
    const [name, nth] = stop.at.split(':');
    if (name !== point) return;
    if (++stop.reached >= Number(nth ?? 1)) throw new Error(`archive run stopped at ${stop.at}`);
  },
}));

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  stop.at = '';
  stop.reached = 0;
  for (const c of cleanups.splice(0).reverse()) await c();
});

const TYPES = ['order.created', 'order.paid', 'order.shipped'];
const CLOSED = 'eventlane.stream.closed';

interface Filter {
  from?: string;
  to?: string;
  types?: string[];
  streamPrefix?: string;
}

function byType(events: readonly StoredEvent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) out[e.type] = (out[e.type] ?? 0) + 1;
  return out;
}

/** The events of `all` (commit order) a replay with `f` covers. */
function covered(all: readonly StoredEvent[], f: Filter): StoredEvent[] {
  return all.filter(
    (e) =>
      (f.from === undefined || compareCheckpoints(e.checkpoint, f.from) > 0) &&
      (f.to === undefined || compareCheckpoints(e.checkpoint, f.to) <= 0) &&
      (f.types === undefined || f.types.includes(e.type)) &&
      (f.streamPrefix === undefined || e.stream.startsWith(f.streamPrefix)),
  );
}

/**
 * What a backfill into a handler-only consumer that applied nothing yet hands its handlers for `range`: per-entity
 * order before the filter, so each stream's events it has not applied come first (those of `handled` types reach a
 * handler), then the event.
 */
function backfillOrder(
  all: readonly StoredEvent[],
  range: readonly StoredEvent[],
  handled: readonly string[],
): string[] {
  const streams = new Map<string, StoredEvent[]>();
  for (const e of all) {
    const history = streams.get(e.stream);
    if (history) history.push(e);
    else streams.set(e.stream, [e]);
  }
  const applied = new Map<string, number>();
  const out: string[] = [];
  for (const e of range) {
    const history = streams.get(e.stream)!;
    for (let p = (applied.get(e.stream) ?? 0) + 1; p <= e.streamPosition; p++) {
      const m = history[p - 1]!;
      expect(m.streamPosition).toBe(p);
      if (handled.includes(m.type)) out.push(m.id);
    }
    applied.set(e.stream, e.streamPosition);
  }
  return out;
}

/**
 * Plans and runs a backfill (handler-only projection) and a dry run (reactor) over `f`, each with handlers for the
 * filter's types only, and expects both to see exactly `expected`, in commit order, once each; the plans count it.
 */
async function replaysSee(
  store: EventStore,
  name: string,
  f: Filter,
  all: readonly StoredEvent[],
  allTypes: readonly string[],
): Promise<void> {
  const expected = covered(all, f);
  const types = f.types ?? allTypes;
  const backfilled: string[] = [];
  const dry: string[] = [];
  const projection = defineProjection({
    name: `${name}_backfill`,
    handlers: Object.fromEntries(
      types.map((t) => [t, (e: StoredEvent) => Promise.resolve(void backfilled.push(e.id))]),
    ),
  });
  const reactor = defineReactor({
    name: `${name}_dry`,
    handlers: Object.fromEntries(
      types.map((t) => [
        t,
        async (
          e: StoredEvent,
          { effect }: { effect: (n: string, fn: () => Promise<unknown>) => Promise<unknown> },
        ) => {
          dry.push(e.id);
          await effect('note', () => Promise.resolve(e.id));
        },
      ]),
    ),
  });
  const replay = createReplay(store, { consumers: [projection, reactor], pageSize: 97 });
  try {
    const ids = expected.map((e) => e.id);
    const counts = byType(expected);
    // The plan counts each event once; the job it previews completes.
    const planAndRun = async (kind: 'backfill' | 'dry-run', consumer: string) => {
      const plan = await replay.plan({ kind, consumer, ...f });
      expect({ events: plan.events, byType: plan.byType }, `${name}: ${kind} plan`).toEqual({
        events: expected.length,
        byType: counts,
      });
      dry.length = 0; // a dry run's plan evaluates the reactor's effects
      const started = await replay.start({ kind, consumer, ...f, previewToken: plan.previewToken });
      const job = await replay.wait(started.id);
      expect(job.state, job.error ?? '').toBe('completed');
      return plan;
    };
    await planAndRun('backfill', projection.name);
    expect(backfilled, `${name}: backfill`).toEqual(backfillOrder(all, expected, types));
    const dryPlan = await planAndRun('dry-run', reactor.name);
    expect(dryPlan.effects?.note?.count ?? 0, `${name}: effects evaluated by the plan`).toBe(expected.length);
    expect(dry, `${name}: dry run`).toEqual(ids);
  } finally {
    await replay.stop();
  }
}

/** A new versioned projection built from the log start (a rebuild job): the events its handlers saw, in order. */
async function rebuildSees(store: EventStore, name: string, types: readonly string[]): Promise<string[]> {
  const seen: string[] = [];
  const def = defineProjection({
    name,
    version: 1,
    tables: { [name]: 'create table :TABLE: (id uuid primary key)' },
    handlers: Object.fromEntries(
      types.map((t) => [
        t,
        async (e: StoredEvent, { query, tables }: ProjectionContext) => {
          await query(`insert into ${tables[name]!} (id) values ($1)`, [e.id]);
          seen.push(e.id);
        },
      ]),
    ),
  });
  const p = createProjections(store, { projections: [def], schema: store.schema, pollMs: 10, pageSize: 113 });
  await p.start();
  try {
    await p.waitLive(name, scaled(60_000));
  } finally {
    await p.stop();
  }
  return seen;
}

/** The verified segment whose deletion stopped part-way: how many of its events are still in the table. */
async function partlyDeleted(
  store: EventStore,
): Promise<{ first: string; last: string; events: number; hot: number } | undefined> {
  const q = quoteIdent(store.schema);
  const rows = await store.executor.query<{ first: string; last: string; events: number; hot: number }>(
    `select g.first_tx::text || ':' || g.first_gp as first, g.last_tx::text || ':' || g.last_gp as last,
            g.events::int as events, (select count(*)::int from ${q}.events e
                        where (e.tx_order, e.global_position) between (g.first_tx, g.first_gp)
                                                                   and (g.last_tx, g.last_gp)) as hot
       from ${q}.archive_segments g where g.state = 'verified' order by g.seq`,
  );
  return rows.find((r) => r.hot > 0 && r.hot < r.events);
}

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`replays over archived segments (${target.name})`, () => {
    it(
      'a segment whose deletion stopped part-way: plans count each event once, replays and rebuilds see it once',
      async () => {
        const store = await openTarget(target, cleanups);
        const dir = tempDir(cleanups);
        await fill(store, 3_000, 30, 100);
        await settle(store);
        const everything = await readAll(store);
        expect(everything).toHaveLength(3_000);
        const bound = await checkpointAt(store, 1_999);

        // Segments of a few hundred events, deleted 100 at a time; the run stops after the 4th batch, in the
        // second segment.
        const options = { before: bound, to: dir, segmentBytes: 96 * 1024, deleteBatch: 100 };
        stop.at = 'delete:4';
        await expect(archive(store, options)).rejects.toThrow('stopped at delete:4');
        stop.at = '';
        const partial = await partlyDeleted(store);
        expect(partial, 'a verified segment partly deleted').toBeDefined();
        const left = await hotCount(store);
        expect(left).toBeGreaterThan(1_000);
        expect(left).toBeLessThan(3_000);
        expect(await readAll(store, 89)).toEqual(everything);

        // Ranges: the whole log; from inside the deleted part of the segment to inside its hot part; from the end of
        // the segment before it (deleted) to the archive bound; by type; by stream prefix to just past the segment.
        const at = (c: string): number => everything.findIndex((e) => e.checkpoint === c);
        const firstIdx = at(partial!.first);
        const lastIdx = at(partial!.last);
        const gone = partial!.events - partial!.hot;
        const inside: Filter = {
          from: everything[firstIdx + Math.floor(gone / 2)]!.checkpoint,
          to: everything[firstIdx + gone + Math.floor(partial!.hot / 2)]!.checkpoint,
        };
        expect(lastIdx - firstIdx + 1).toBe(partial!.events);
        const ranges: [string, Filter][] = [
          ['whole', {}],
          ['inside', inside],
          ['to_bound', { from: everything[firstIdx - 7]!.checkpoint, to: bound }],
          ['paid', { types: ['order.paid'] }],
          ['prefix', { streamPrefix: 'order-1', to: everything[lastIdx + 3]!.checkpoint }],
        ];
        const check = async (round: string): Promise<void> => {
          for (const [name, f] of ranges) {
            await replaysSee(store, `${name}_${round}`, f, everything, TYPES);
          }
          expect(await rebuildSees(store, `rebuilt_${round}`, TYPES)).toEqual(everything.map((e) => e.id));
        };
        await check('partial');

        // The round's backfill consumers hold the verified segments in the table (their order guard rightly holds
        // the events of the streams they did not apply): a rerun deletes nothing and says which consumers hold it.
        const held = await archive(store, options);
        expect(held.deleted).toBe(0);
        expect(held.deletionHeldBy.map((h) => h.name)).toContain('paid_partial_backfill');
        expect(held.deletionHeldBy.every((h) => h.kind === 'consumer')).toBe(true);
        // The rerun finishes the deletion once they are retired: the same again.
        const q = quoteIdent(store.schema);
        await store.executor.query(
          `delete from ${q}.consumer_streams where consumer like '%_partial_backfill'`,
        );
        await store.executor.query(
          `delete from ${q}.consumer_checkpoints where consumer like '%_partial_backfill'`,
        );
        const rerun = await archive(store, options);
        expect(rerun.deleted).toBe(left - 1_000);
        expect(await hotCount(store)).toBe(1_000);
        expect(await partlyDeleted(store)).toBeUndefined();
        expect(await readAll(store, 89)).toEqual(everything);
        await check('done');
      },
      scaled(180_000),
    );

    it(
      'closed streams archived, open streams of the same period hot: filtered replays see the matching events once, in order',
      async () => {
        const store = await openTarget(target, cleanups);
        const dir = tempDir(cleanups);
        const orders = Array.from({ length: 12 }, (_, i) => `order-${i}`);
        const carts = Array.from({ length: 4 }, (_, i) => `cart-${i}`);
        const all = [...orders, ...carts];
        for (let r = 0; r < 20; r++) {
          for (const s of all) {
            await store.append(
              s,
              Array.from({ length: 4 }, (_, k) => ({
                type: TYPES[(r + k + s.length) % 3]!,
                data: { r, k, s },
              })),
            );
          }
        }
        // order-0, order-2 … order-10 and cart-1 are closed with a final event; the rest stay open.
        const closed = [...orders.filter((_, i) => i % 2 === 0), 'cart-1'];
        for (const s of closed) {
          await store.closeStream(
            s,
            s === 'cart-1' ? {} : { event: { type: 'order.shipped', data: { last: s } } },
          );
        }
        for (const s of all.filter((x) => !closed.includes(x))) {
          await store.append(s, [{ type: 'order.paid', data: { late: s } }]);
        }
        await settle(store);
        const everything = await readAll(store);
        const closedEvents = everything.filter((e) => closed.includes(e.stream)).length;
        expect(closedEvents).toBe(7 * 81);
        const result = await archive(store, {
          before: (await store.head()).checkpoint,
          to: dir,
          closedStreamsOnly: true,
          segmentBytes: 8 * 1024,
          deleteBatch: 50,
        });
        expect(result).toMatchObject({ exported: closedEvents, deleted: closedEvents });
        expect(result.segments.length).toBeGreaterThan(2);
        expect(await hotCount(store)).toBe(everything.length - closedEvents);
        expect(await readAll(store, 61)).toEqual(everything);

        const types = [...TYPES, CLOSED];
        const mid = everything[Math.floor(everything.length / 2)]!.checkpoint;
        const filters: [string, Filter][] = [
          ['whole', {}],
          ['paid', { types: ['order.paid'] }],
          ['shipped_closed', { types: ['order.shipped', CLOSED] }],
          ['prefix', { streamPrefix: 'order-1' }],
          ['cart', { streamPrefix: 'cart-' }],
          ['prefix_paid', { streamPrefix: 'order-1', types: ['order.paid'] }],
          ['half_paid', { types: ['order.paid'], from: mid }],
          ['cart_first_half', { streamPrefix: 'cart-', to: mid }],
        ];
        for (const [name, f] of filters) {
          const expected = covered(everything, f);
          // Each filter takes events from the segments and from the table.
          expect(
            expected.some((e) => closed.includes(e.stream)),
            name,
          ).toBe(true);
          expect(
            expected.some((e) => !closed.includes(e.stream)),
            name,
          ).toBe(true);
          await replaysSee(store, name, f, everything, types);
        }
        expect(await rebuildSees(store, 'rebuilt', types)).toEqual(everything.map((e) => e.id));
      },
      scaled(180_000),
    );
  });
}
