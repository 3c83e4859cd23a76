/**
 * Fills a store's schema with a log of a given size in set-based SQL, as eventlane itself would have written it:
 * the events (tx_order of the writing transaction, stream positions 1…n per stream, the same indexes and
 * constraints as the migrations create), one streams row per stream (its version and last tx_order), then
 * VACUUM (ANALYZE) and a CHECKPOINT, as a database that has lived with that log would be.
 *
 * The log has two parts. The history: `size - window` events on streams `h-<k>` of 10 events each, already applied
 * by the `totals` consumer (its order guard rows, its read model rows and its checkpoints are written too). The
 * window: the last `window` events, on streams `w-<k>` of 10 events each, not applied yet, which the growth
 * benchmark's consumer then catches up over. Both parts interleave their streams (event g goes to stream
 * g mod streams), as a log written by many writers does.
 */
import type pg from 'pg';
import { formatCheckpoint, quoteIdent } from '../src/store/names.js';

/** Events per stream in the prefilled log. */
const EVENTS_PER_STREAM = 10;
/** Rows per insert statement (and transaction): each chunk is one transaction, so one tx_order. */
const CHUNK = 1_000_000;

export const CONSUMER = 'totals';

interface IndexDef {
  drop: string;
  create: string;
}

/**
 * The secondary indexes and unique constraints of a table (not its primary key): dropped before the load and
 * rebuilt after it from their own definitions, so the prefilled table has exactly the indexes the migrations made.
 */
async function secondaryIndexes(db: pg.Client, q: string, table: string): Promise<IndexDef[]> {
  const { rows } = await db.query<{ name: string; def: string; constraint: boolean }>(
    `select c.relname as name,
            coalesce(pg_get_constraintdef(k.oid), pg_get_indexdef(i.indexrelid)) as def,
            k.oid is not null as constraint
       from pg_index i
       join pg_class c on c.oid = i.indexrelid
       left join pg_constraint k on k.conindid = i.indexrelid and k.conrelid = i.indrelid
      where i.indrelid = $1::regclass and not i.indisprimary`,
    [table],
  );
  return rows.map((r) =>
    r.constraint
      ? {
          drop: `alter table ${table} drop constraint ${quoteIdent(r.name)}`,
          create: `alter table ${table} add constraint ${quoteIdent(r.name)} ${r.def}`,
        }
      : { drop: `drop index ${q}.${quoteIdent(r.name)}`, create: r.def },
  );
}

/** The data of a prefilled event: the same shape as the benchmarks' sampleData, with an integer amount. */
const DATA_SQL = `jsonb_build_object('orderId', 'o-' || g, 'amount', g % 1000, 'currency', 'EUR',
  'lines', jsonb_build_array(jsonb_build_object('sku', 'sku-' || (g % 97), 'qty', 1 + g % 3)))`;

/**
 * A UUIDv7 as eventlane's uuidv7() makes them (src/events/ids.ts): the event's Unix milliseconds ($5 + g: one event
 * per millisecond, ending before now, so every later append's ids sort after them) in the first 48 bits, version 7,
 * random bits after. Ids that follow the log order keep the id index growing at its right edge, as it does in use.
 */
const UUIDV7_SQL = `encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
  placing substring(int8send($5::bigint + g) from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid`;

async function insertPart(
  db: pg.Client,
  q: string,
  prefix: string,
  count: number,
  startMs: number,
  onChunk: (done: number) => void,
): Promise<void> {
  const streams = Math.max(1, Math.floor(count / EVENTS_PER_STREAM));
  for (let from = 0; from < count; from += CHUNK) {
    const to = Math.min(count, from + CHUNK) - 1;
    // One statement, so one transaction: its rows share the transaction's tx_order, as one append's do.
    await db.query(
      `insert into ${q}.events (tx_order, id, stream, stream_position, type, version, data, metadata, occurred_at)
         select pg_current_xact_id(), ${UUIDV7_SQL}, $1 || (g % $2), g / $2 + 1, 'item.added', 1, ${DATA_SQL},
                '{}'::jsonb, to_timestamp(($5::bigint + g) / 1000.0)
           from generate_series($3::bigint, $4::bigint) as g
          order by g`,
      [prefix, streams, from, to, startMs],
    );
    onChunk(to + 1);
  }
}

export interface Prefilled {
  /** The checkpoint of the last history event: where the consumer stands (null when there is no history). */
  historyEnd: string | null;
  seconds: number;
}

/**
 * Fills the (freshly migrated, empty) store with `size` events, the last `window` of them not yet consumed.
 * `log` reports progress (stderr).
 */
export async function prefill(
  db: pg.Client,
  schema: string,
  size: number,
  window: number,
  partitions: number,
  log: (line: string) => void,
): Promise<Prefilled> {
  const started = process.hrtime.bigint();
  const q = quoteIdent(schema);
  await db.query(
    "set statement_timeout = 0; set synchronous_commit = off; set maintenance_work_mem = '512MB'",
  );
  const history = Math.max(0, size - window);
  // The log's first event is `size` milliseconds old, its last one a millisecond old.
  const startMs = Date.now() - size - 1;
  const indexes = await secondaryIndexes(db, q, `${q}.events`);
  for (const ix of indexes) await db.query(ix.drop);
  await insertPart(db, q, 'h-', history, startMs, (n) => log(`history ${n}/${history}`));
  const {
    rows: [end],
  } = await db.query<{ tx: string; gp: string }>(
    `select tx_order::text as tx, global_position::text as gp from ${q}.events
      order by global_position desc limit 1`,
  );
  await insertPart(db, q, 'w-', size - history, startMs + history, (n) =>
    log(`window ${n}/${size - history}`),
  );
  await db.query('begin');
  try {
    for (const ix of indexes) {
      log(`index: ${ix.create.slice(0, 90)}`);
      await db.query(ix.create);
    }
    // One row per stream: its version and the tx_order of its last event, as the append maintains them.
    await db.query(
      `insert into ${q}.streams (stream, version, tx_order)
       select stream, max(stream_position), max(tx_order) from ${q}.events group by stream`,
    );
    if (end) {
      // The consumer has applied the history: its order guard, its read model and its checkpoints say so.
      await db.query(
        `insert into ${q}.consumer_streams (consumer, stream, position)
         select $1, stream, version from ${q}.streams where stream like 'h-%'`,
        [CONSUMER],
      );
      await db.query(
        `insert into ${q}.totals (stream, total, n)
         select stream, version * 500, version from ${q}.streams where stream like 'h-%'`,
      );
      await db.query(
        `insert into ${q}.consumer_checkpoints (consumer, partition, checkpoint)
         select $1, p, $2 from generate_series(0, $3::int - 1) as p`,
        [CONSUMER, formatCheckpoint(end.tx, end.gp), partitions],
      );
    }
    await db.query('commit');
  } catch (error) {
    await db.query('rollback');
    throw error;
  }
  log('vacuum (analyze), checkpoint');
  for (const table of ['events', 'streams', 'consumer_streams', 'totals', 'consumer_checkpoints'])
    await db.query(`vacuum (analyze) ${q}.${table}`);
  await db.query('checkpoint');
  return {
    historyEnd: end ? formatCheckpoint(end.tx, end.gp) : null,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
}
