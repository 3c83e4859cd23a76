import pg from 'pg';

/** The PostgreSQL server the benchmarks run against, and a database of their own on it. */
export const BENCH_ADMIN_URL =
  process.env.EVENTLANE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/**
 * The database the benchmarks drop and recreate. Two runs on one server need a name each
 * (`EVENTLANE_BENCH_DB=eventlane_bench_2`), or the second drops the first one's database mid-run.
 */
export const BENCH_DB = checkedDbName(process.env.EVENTLANE_BENCH_DB ?? 'eventlane_bench');

function checkedDbName(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
    throw new Error(
      `EVENTLANE_BENCH_DB ${JSON.stringify(name)} must be 1–63 lower-case letters, digits and _.`,
    );
  }
  return name;
}

export function benchUrl(): string {
  const u = new URL(BENCH_ADMIN_URL);
  u.pathname = `/${BENCH_DB}`;
  return u.toString();
}

/** Drops and recreates the benchmark database, so every run starts from empty tables. */
export async function freshBenchDatabase(): Promise<string> {
  const admin = new pg.Client({ connectionString: BENCH_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${BENCH_DB} with (force)`);
    await admin.query(`create database ${BENCH_DB}`);
  } finally {
    await admin.end();
  }
  return benchUrl();
}

/** Runs `workers` loops of `task` until `total` tasks have started; returns the elapsed seconds. */
export async function runConcurrently(
  workers: number,
  total: number,
  task: (i: number, worker: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = next++; i < total; i = next++) await task(i, w);
    }),
  );
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** A small order event, the same for every implementation. */
export function sampleData(i: number): {
  orderId: string;
  amount: number;
  currency: string;
  lines: { sku: string; qty: number }[];
} {
  return {
    orderId: `o-${i}`,
    amount: (i % 1000) + 0.5,
    currency: 'EUR',
    lines: [{ sku: `sku-${i % 97}`, qty: 1 + (i % 3) }],
  };
}
