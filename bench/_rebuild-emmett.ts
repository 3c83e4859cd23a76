/**
 * Emmett's side of bench/rebuild.ts: the same events appended to Emmett's PostgreSQL event store (its own
 * database, since Emmett's tables live in `public`), then rebuilt with `rebuildPostgreSQLProjections` and a raw
 * batch SQL projection doing the same multi-row upsert. Emmett is configured for its best here: batches of 5,000
 * and no pause between pulls (its defaults are 100 and 50 ms).
 */
import { rawSql } from '@event-driven-io/dumbo';
import {
  getPostgreSQLEventStore,
  postgreSQLRawBatchSQLProjection,
  rebuildPostgreSQLProjections,
} from '@event-driven-io/emmett-postgresql';
import pg from 'pg';

const ADMIN = process.env.EVENTLANE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = 'eventlane_bench_rebuild';

type OrderEvent = { type: string; data: { k: number; amount: number } };

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export async function emmettRebuild(
  total: number,
  streams: number,
  types: readonly string[],
): Promise<{ seconds: number; applied: number; inLog: number } | { error: string }> {
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`drop database if exists ${DB} with (force)`);
  await admin.query(`create database ${DB}`);
  await admin.end();
  const url = new URL(ADMIN);
  url.pathname = `/${DB}`;
  const connectionString = url.toString();
  const store = getPostgreSQLEventStore(connectionString);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await store.schema.migrate();
    let next = 0;
    const perCall = 100;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let call = next++; call * perCall < total; call = next++) {
          const count = Math.min(perCall, total - call * perCall);
          await store.appendToStream<OrderEvent>(
            `order-${call % streams}`,
            Array.from({ length: count }, (_, k) => ({
              type: types[(call + k) % 3]!,
              data: { k, amount: 10 },
            })),
          );
        }
      }),
    );
    await client.query(
      'create table emmett_summary (stream text primary key, n integer not null, last_type text not null, status text not null)',
    );
    const projection = postgreSQLRawBatchSQLProjection<OrderEvent>({
      name: 'order_summary',
      canHandle: [...types],
      evolve: (events) => {
        const byStream = new Map<string, { n: number; last: string }>();
        for (const e of events) {
          const stream = (e as unknown as { metadata: { streamName: string } }).metadata.streamName;
          const s = byStream.get(stream);
          if (s === undefined) byStream.set(stream, { n: 1, last: e.type });
          else {
            s.n++;
            s.last = e.type;
          }
        }
        if (byStream.size === 0) return [];
        const values = [...byStream]
          .map(([s, v]) => `(${literal(s)}, ${v.n}, ${literal(v.last)})`)
          .join(', ');
        return [
          rawSql(
            `insert into emmett_summary as t (stream, n, last_type, status)
             select x.stream, x.n, x.last_type, case when x.last_type = 'order.shipped' then 'shipped' else 'open' end
               from (values ${values}) as x(stream, n, last_type)
             on conflict (stream) do update set n = t.n + excluded.n, last_type = excluded.last_type, status = excluded.status`,
          ),
        ];
      },
    });
    const consumer = rebuildPostgreSQLProjections<OrderEvent>({
      connectionString,
      projections: [projection],
      pulling: {
        batchSize: Number(process.env.EMMETT_BATCH ?? 5000),
        pullingFrequencyInMs: Number(process.env.EMMETT_PULL_MS ?? 0),
      },
    });
    const { rows: logRows } = await client.query<{ n: string }>(
      'select count(*)::text as n from emt_messages',
    );
    const inLog = Number(logRows[0]?.n ?? 0);
    const applied = async () =>
      Number(
        (await client.query<{ s: string | null }>('select sum(n)::text as s from emmett_summary')).rows[0]
          ?.s ?? 0,
      );
    const started = performance.now();
    await consumer.start();
    let seconds = (performance.now() - started) / 1000;
    // start() may resolve before the last batches commit: wait (up to 3 s without progress) for the rest, and
    // count the time until the table is complete.
    let last = await applied();
    let still = performance.now();
    while (last < inLog && performance.now() - still < 3000) {
      await new Promise((r) => setTimeout(r, 20));
      const now = await applied();
      if (now !== last) {
        last = now;
        still = performance.now();
        seconds = (still - started) / 1000;
      }
    }
    await consumer.close();
    return { seconds, applied: last, inLog };
  } catch (error) {
    return { error: (error as Error).message };
  } finally {
    await client.end();
    await store.close();
  }
}
