/**
 * `npm run bench -- contracts [--json] [--url postgres://…] [--rounds 5] [--calls 25]`
 *
 * The cost of contracts, measured side by side in one run against the same PostgreSQL schema:
 * - append-100x8 vs append-validated-100x8: 8 concurrent writers, 100 events per append, without and with
 *   zod validation on append (`vsUnvalidated` = validated / unvalidated throughput; target ≥ 0.8);
 * - read vs read-upcast: the whole log read in commit order (iterateLog), stored at v1, without contracts and
 *   with upcasting v1 → v3 on read;
 * - validate-only-100: the validation alone, in process, for scale.
 * Rounds alternate the two sides of each pair so drift on the shared machine hits both; medians are reported.
 */
import pg from 'pg';
import { z } from 'zod';
import {
  createContractRegistry,
  createEventStore,
  defineEvent,
  type EventStore,
  type NewEvent,
} from '../src/index.js';
import { round, rssMb, type Reporter } from './report.js';

const item = z.object({
  sku: z.string(),
  quantity: z.number().int().positive(),
  priceCents: z.number().int(),
});
const OrderPlaced = defineEvent({
  type: 'bench.order_placed',
  owner: 'bench',
  versions: {
    1: z.object({ orderId: z.string(), customerId: z.string(), total: z.number() }),
    2: z.object({
      orderId: z.string(),
      customerId: z.string(),
      totalCents: z.number().int(),
      currency: z.string(),
    }),
    3: z.object({
      orderId: z.string(),
      customerId: z.string(),
      totalCents: z.number().int(),
      currency: z.enum(['EUR', 'USD', 'GBP']),
      items: z.array(item),
      note: z.string().optional(),
    }),
  },
  upcast: {
    1: (v1) => ({
      orderId: v1.orderId,
      customerId: v1.customerId,
      totalCents: Math.round(v1.total * 100),
      currency: 'EUR',
    }),
    2: (v2) => ({ ...v2, currency: v2.currency as 'EUR', items: [] }),
  },
});

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function batch(writer: number, call: number): NewEvent[] {
  return Array.from({ length: 100 }, (_, i) =>
    OrderPlaced.create({
      orderId: `o-${writer}-${call}-${i}`,
      customerId: `c-${i % 17}`,
      totalCents: 1000 + i,
      currency: 'EUR',
      items: [
        { sku: 'A-1', quantity: 1, priceCents: 500 },
        { sku: 'B-2', quantity: 2, priceCents: 250 },
      ],
    }),
  );
}

/** 8 writers, each `calls` appends of 100 events to its own stream; returns events per second. */
async function appendRound(store: EventStore, tag: string, calls: number): Promise<number> {
  const batches = Array.from({ length: 8 }, (_, w) => Array.from({ length: calls }, (_, c) => batch(w, c)));
  const started = performance.now();
  await Promise.all(
    batches.map(async (mine, w) => {
      for (const events of mine) await store.append(`${tag}-${w}`, events);
    }),
  );
  return (8 * calls * 100) / ((performance.now() - started) / 1000);
}

async function readRound(store: EventStore): Promise<number> {
  let n = 0;
  const started = performance.now();
  for await (const _event of store.iterateLog({ pageSize: 1000 })) n++;
  return n / ((performance.now() - started) / 1000);
}

/** The log hides transactions newer than the oldest one running on the server (shared): wait for ours. */
async function logShows(store: EventStore, count: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    let n = 0;
    for await (const _event of store.iterateLog({ pageSize: 5000 })) n++;
    if (n >= count) return;
    if (Date.now() > deadline) throw new Error(`the log shows ${n} of ${count} events after 60 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function run(args: string[], reporter: Reporter): Promise<void> {
  const url = arg(
    args,
    'url',
    process.env.EVENTLANE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  );
  const rounds = Number(arg(args, 'rounds', '5'));
  const calls = Number(arg(args, 'calls', '25'));
  const readEvents = Number(arg(args, 'read-events', '50000'));
  const schema = `bench_contracts_${Date.now().toString(36)}`;
  const plain = await createEventStore({ url, schema });
  const validated = await createEventStore({ url, schema, events: [OrderPlaced], migrate: false });
  try {
    // Warm-up: JIT, connection pool, the append function's plan.
    await appendRound(plain, 'warm-plain', 2);
    await appendRound(validated, 'warm-validated', 2);

    const a: number[] = [];
    const v: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // Alternate which side goes first so neither always gets the warmer machine.
      if (r % 2 === 0) {
        a.push(await appendRound(plain, `plain-${r}`, calls));
        v.push(await appendRound(validated, `validated-${r}`, calls));
      } else {
        v.push(await appendRound(validated, `validated-${r}`, calls));
        a.push(await appendRound(plain, `plain-${r}`, calls));
      }
    }
    const plainEps = median(a);
    const validatedEps = median(v);
    reporter.add({ scenario: 'append-100x8', eventsPerSec: Math.round(plainEps), rounds, rssMb: rssMb() });
    reporter.add({
      scenario: 'append-validated-100x8',
      eventsPerSec: Math.round(validatedEps),
      vsUnvalidated: round(validatedEps / plainEps),
      rounds,
      rssMb: rssMb(),
    });

    // In-process cost of validation alone, for scale.
    const registry = createContractRegistry([OrderPlaced]);
    const sample = batch(0, 0);
    if (registry.validate(sample) instanceof Promise) throw new Error('expected synchronous validation');
    for (let i = 0; i < 200; i++) void registry.validate(sample);
    const started = performance.now();
    let validations = 0;
    while (performance.now() - started < 1000) {
      void registry.validate(sample);
      validations += 100;
    }
    reporter.add({
      scenario: 'validate-only-100',
      eventsPerSec: Math.round(validations / ((performance.now() - started) / 1000)),
    });

    // Reads: a fresh schema holding only v1 events, read whole without contracts and with upcasting.
    const readSchema = `${schema}_r`;
    const legacy = await createEventStore({ url, schema: readSchema });
    const upcasting = await createEventStore({
      url,
      schema: readSchema,
      events: [OrderPlaced],
      migrate: false,
    });
    try {
      for (let i = 0; i < readEvents; i += 1000) {
        const events = Array.from({ length: Math.min(1000, readEvents - i) }, (_, j) => ({
          type: 'bench.order_placed',
          version: 1,
          data: { orderId: `o-${i + j}`, customerId: `c-${j % 17}`, total: 12.5 },
        }));
        await legacy.append(`read-${i % 64}`, events);
      }
      await logShows(legacy, readEvents);
      await readRound(legacy);
      await readRound(upcasting);
      const r1: number[] = [];
      const r2: number[] = [];
      for (let r = 0; r < rounds; r++) {
        if (r % 2 === 0) {
          r1.push(await readRound(legacy));
          r2.push(await readRound(upcasting));
        } else {
          r2.push(await readRound(upcasting));
          r1.push(await readRound(legacy));
        }
      }
      const readEps = median(r1);
      const upcastEps = median(r2);
      reporter.add({
        scenario: 'read',
        eventsPerSec: Math.round(readEps),
        events: readEvents,
        rounds,
        rssMb: rssMb(),
      });
      reporter.add({
        scenario: 'read-upcast',
        eventsPerSec: Math.round(upcastEps),
        vsUnvalidated: round(upcastEps / readEps),
        events: readEvents,
        rounds,
        rssMb: rssMb(),
      });
    } finally {
      await upcasting.close();
      await legacy.close();
    }
  } finally {
    await validated.close();
    await plain.close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.query(`drop schema if exists "${schema}_r" cascade`);
    } finally {
      await client.end();
    }
  }
}
