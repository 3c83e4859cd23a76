// What the database says about the system, read from any process: no worker, relay or projections runner needs to
// run here. The admin API, the operator CLI and the database-read metrics all read through these functions.

import type { BreakerState } from '../consumers/breaker.js';
import { readLag } from '../consumers/health.js';
import { relayBacklog } from '../relay/relay-backlog.js';
import { lagAfter } from '../projections/log.js';
import type { EventStore } from '../store/event-store.js';
import { quoteIdent } from '../store/names.js';
import { UnknownConsumerError } from '../errors.js';

/** A consumer (projection or reactor run by `createWorker`) as recorded in the database. */
export interface ConsumerStatus {
  name: string;
  eventsBehind: number;
  secondsBehind: number;
  parked: number;
  retrying: number;
  /** Age of the oldest parked event in seconds; 0 when none is parked. */
  oldestParkedAgeSeconds: number;
  /** Workers with a recent heartbeat that run this consumer. */
  workers: number;
  /**
   * The worst retry-storm breaker among those workers (open, then half-open, then closed), as they reported it with
   * their last heartbeat; null when no live worker runs the consumer.
   */
  breaker: BreakerState | null;
  /**
   * 'stopped': no live worker runs it; 'paused': a breaker is open; 'blocked': streams wait behind parked events;
   * 'running': otherwise.
   */
  state: 'stopped' | 'paused' | 'blocked' | 'running';
}

/** A versioned projection (createProjections), one row per version still building or live. */
export interface ProjectionStatus {
  name: string;
  version: number;
  status: 'building' | 'live' | 'retired' | 'dropped';
  mode: 'inline' | 'async';
  checkpoint: string;
  applied: number;
  eventsBehind: number;
  secondsBehind: number;
  /** 'retrying' or 'parked' while a failing event stops the version; null while it runs. */
  failure: { id: string; status: 'retrying' | 'parked'; stream: string; streamPosition: number } | null;
  parked: number;
  oldestParkedAgeSeconds: number;
}

export interface RelayStatus {
  name: string;
  checkpoint: string;
  /** Whether some process holds the relay's lease now. */
  leased: boolean;
  published: number;
  backlogEvents: number;
  oldestUnpublishedAgeSeconds: number;
  parked: number;
  held: number;
}

export interface Overview {
  schema: string;
  head: { checkpoint: string; globalPosition: string; recordedAt: Date | null };
  oldestTransactionAgeSeconds: number;
  relays: RelayStatus[];
  consumers: ConsumerStatus[];
  projections: ProjectionStatus[];
  /** Parked events of all consumers and projections together, and of all relays. */
  parked: { consumers: number; projections: number; relays: number };
}

/** A heartbeat older than this marks a worker as gone (workers beat every few seconds). */
const WORKER_ALIVE_SECONDS = 60;

/** Consumer names recorded in the database: projection version keys (`name@vN`) are not consumers. */
export async function consumerNames(store: EventStore): Promise<string[]> {
  const q = quoteIdent(store.schema);
  const rows = await store.executor.query<{ name: string }>(
    `select name from (
        select distinct consumer as name from ${q}.consumer_checkpoints
        union select distinct consumer from ${q}.consumer_streams
        union select distinct consumer from ${q}.parked_events
        union select distinct unnest(consumers) from ${q}.consumer_workers) n
      where position('@' in name) = 0
      order by name`,
  );
  return rows.map((r) => r.name);
}

/**
 * Checks that `consumer` names a consumer or a projection version (`name@vN`) recorded in the store, so that a
 * typo is an error rather than an empty list.
 */
export async function checkConsumerKey(store: EventStore, consumer: string): Promise<void> {
  const names = await consumerNames(store);
  if (names.includes(consumer)) return;
  const rows = await store.executor.query<{ key: string }>(
    `select name || '@v' || version as key from ${quoteIdent(store.schema)}.projections order by 1`,
  );
  const keys = rows.map((r) => r.key);
  if (!keys.includes(consumer)) throw new UnknownConsumerError(consumer, [...names, ...keys]);
}

export async function consumerStatus(store: EventStore, name: string): Promise<ConsumerStatus> {
  const q = quoteIdent(store.schema);
  const lag = await readLag(store.executor, q, name);
  const [row] = await store.executor.query<{ oldest: number | null; breakers: (string | null)[] | null }>(
    `select (select extract(epoch from now() - min(parked_at))::float8 from ${q}.parked_events
              where consumer = $1 and status = 'parked') as oldest,
            (select array_agg(breakers ->> $1) from ${q}.consumer_workers
              where $1 = any(consumers) and heartbeat_at > now() - make_interval(secs => $2)) as breakers`,
    [name, WORKER_ALIVE_SECONDS],
  );
  const breakers = row?.breakers ?? [];
  const breaker =
    breakers.length === 0
      ? null
      : ((['open', 'half-open', 'closed'] as const).find((s) => breakers.includes(s)) ?? 'closed');
  return {
    name,
    ...lag,
    oldestParkedAgeSeconds: Math.max(0, row?.oldest ?? 0),
    workers: breakers.length,
    breaker,
    state:
      breaker === null ? 'stopped' : breaker === 'open' ? 'paused' : lag.parked > 0 ? 'blocked' : 'running',
  };
}

/** Every consumer recorded in the database, or the one named (an unknown name is an error). */
export async function listConsumers(store: EventStore, name?: string): Promise<ConsumerStatus[]> {
  const names = await consumerNames(store);
  if (name !== undefined && !names.includes(name)) throw new UnknownConsumerError(name, names);
  const out: ConsumerStatus[] = [];
  for (const n of name === undefined ? names : [name]) out.push(await consumerStatus(store, n));
  return out;
}

interface ProjectionRow {
  name: string;
  version: number;
  status: ProjectionStatus['status'];
  mode: ProjectionStatus['mode'];
  checkpoint: string;
  applied: string;
  failure_id: string | null;
  failure_status: 'retrying' | 'parked' | null;
  failure_stream: string | null;
  failure_position: string | null;
  parked: number;
  oldest: number | null;
}

/** Versions of projections that build or serve (retired and dropped ones are history), by name and version. */
export async function listProjections(store: EventStore, name?: string): Promise<ProjectionStatus[]> {
  const q = quoteIdent(store.schema);
  const rows = await store.executor.query<ProjectionRow>(
    `select p.name, p.version, p.status, p.mode, p.checkpoint, p.applied::text as applied,
            f.id::text as failure_id, f.status as failure_status, f.stream as failure_stream,
            f.stream_position::text as failure_position,
            (select count(*)::int from ${q}.parked_events k
              where k.consumer = p.name || '@v' || p.version and k.status = 'parked') as parked,
            (select extract(epoch from now() - min(k.parked_at))::float8 from ${q}.parked_events k
              where k.consumer = p.name || '@v' || p.version and k.status = 'parked') as oldest
       from ${q}.projections p
       left join lateral (select * from ${q}.parked_events k
                           where k.consumer = p.name || '@v' || p.version and k.status in ('retrying', 'parked')
                           order by k.id limit 1) f on true
      where p.status in ('building', 'live') and ($1::text is null or p.name = $1)
      order by p.name, p.version`,
    [name ?? null],
  );
  if (name !== undefined && rows.length === 0) {
    const known = await store.executor.query<{ name: string }>(
      `select distinct name from ${q}.projections where status in ('building', 'live') order by name`,
    );
    throw new UnknownConsumerError(
      name,
      known.map((k) => k.name),
    );
  }
  const out: ProjectionStatus[] = [];
  for (const r of rows) {
    const lag = await lagAfter(store, r.checkpoint);
    out.push({
      name: r.name,
      version: r.version,
      status: r.status,
      mode: r.mode,
      checkpoint: r.checkpoint,
      applied: Number(r.applied),
      eventsBehind: lag.events,
      secondsBehind: lag.seconds,
      failure:
        r.failure_id === null
          ? null
          : {
              id: r.failure_id,
              status: r.failure_status!,
              stream: r.failure_stream!,
              streamPosition: Number(r.failure_position),
            },
      parked: r.parked,
      oldestParkedAgeSeconds: Math.max(0, r.oldest ?? 0),
    });
  }
  return out;
}

export async function listRelays(store: EventStore): Promise<RelayStatus[]> {
  const q = quoteIdent(store.schema);
  const rows = await store.executor.query<{
    name: string;
    leased: boolean;
    published: string;
    parked: number;
    held: number;
  }>(
    `select r.name, r.lease_until > now() and r.owner is not null as leased, r.published::text as published,
            (select count(*)::int from ${q}.relay_parked p where p.relay = r.name and p.status in ('parked', 'retry', 'skip')) as parked,
            (select count(*)::int from ${q}.relay_parked p where p.relay = r.name and p.status = 'held') as held
       from ${q}.relay_checkpoints r order by r.name`,
  );
  const out: RelayStatus[] = [];
  for (const r of rows) {
    const b = await relayBacklog(store.executor, q, r.name, undefined);
    out.push({
      name: r.name,
      checkpoint: b.checkpoint,
      leased: r.leased,
      published: Number(r.published),
      backlogEvents: b.events,
      oldestUnpublishedAgeSeconds: b.oldestAgeMs / 1000,
      parked: r.parked,
      held: r.held,
    });
  }
  return out;
}

/** The whole system at a glance: head, relays and backlog, consumers and lag, projections, parked counts. */
export async function readOverview(store: EventStore): Promise<Overview> {
  const head = await store.head();
  const health = await store.health();
  const relays = await listRelays(store);
  const consumers = await listConsumers(store);
  const projections = await listProjections(store);
  const sum = (xs: readonly { parked: number }[]) => xs.reduce((n, x) => n + x.parked, 0);
  return {
    schema: store.schema,
    head: {
      checkpoint: head.checkpoint,
      globalPosition: head.globalPosition.toString(),
      recordedAt: head.recordedAt,
    },
    oldestTransactionAgeSeconds: health.oldestTransactionAgeSeconds,
    relays,
    consumers,
    projections,
    parked: { consumers: sum(consumers), projections: sum(projections), relays: sum(relays) },
  };
}
