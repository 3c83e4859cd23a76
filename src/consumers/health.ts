import { UnknownConsumerError } from '../errors.js';
import type { Queryable } from './sql.js';
import type { ConsumerHealth, ConsumerRuntime } from './worker-types.js';

export interface LagFigures {
  /** Events appended but not yet applied by the consumer (over all streams). */
  eventsBehind: number;
  /** Age of the oldest event not yet applied; 0 when caught up. */
  secondsBehind: number;
  /** Events parked (waiting for an operator) and failing (still retrying). */
  parked: number;
  retrying: number;
}

/**
 * Lag from the order guard: per stream, the stream's version minus the consumer's last applied position. Exact for
 * log and bus consumers alike (skipped and parked events count as applied or behind as they are). It reads every
 * stream row, so call it every few seconds, not per event.
 */
export async function readLag(ex: Queryable, q: string, consumer: string): Promise<LagFigures> {
  const [lag] = await ex.query<{ behind: string; seconds: number | null }>(
    `select coalesce(sum(s.version - coalesce(c.position, 0)), 0)::text as behind,
            extract(epoch from now() - min(e.recorded_at))::float8 as seconds
       from ${q}.streams s
       left join ${q}.consumer_streams c on c.consumer = $1 and c.stream = s.stream
       left join ${q}.events e on e.stream = s.stream and e.stream_position = coalesce(c.position, 0) + 1
      where s.version > coalesce(c.position, 0)`,
    [consumer],
  );
  const [parked] = await ex.query<{ parked: string; retrying: string }>(
    `select count(*) filter (where status = 'parked')::text as parked,
            count(*) filter (where status = 'retrying')::text as retrying
       from ${q}.parked_events where consumer = $1 and status in ('parked', 'retrying')`,
    [consumer],
  );
  return {
    eventsBehind: Number(lag?.behind ?? 0),
    secondsBehind: Math.max(0, lag?.seconds ?? 0),
    parked: Number(parked?.parked ?? 0),
    retrying: Number(parked?.retrying ?? 0),
  };
}

/** Lag and health of every consumer of a worker (or one, by name), for `worker.health()`. */
export async function readConsumerHealth(
  ex: Queryable,
  q: string,
  consumers: readonly ConsumerRuntime[],
  consumer?: string,
): Promise<ConsumerHealth[]> {
  const selected = consumer === undefined ? consumers : consumers.filter((c) => c.name === consumer);
  if (selected.length === 0)
    throw new UnknownConsumerError(
      consumer,
      consumers.map((c) => c.name),
    );
  const out: ConsumerHealth[] = [];
  for (const c of selected) {
    const lag = await readLag(ex, q, c.name);
    out.push({
      consumer: c.name,
      kind: c.definition.kind,
      eventsBehind: lag.eventsBehind,
      secondsBehind: lag.secondsBehind,
      throughput: c.stats.throughput(),
      errorRate: c.stats.errorRate(),
      applied: c.stats.applied,
      duplicates: c.stats.duplicates,
      failures: c.stats.failures,
      retries: c.stats.retries,
      parked: lag.parked,
      retrying: lag.retrying,
      breaker: c.breaker.state,
    });
  }
  return out;
}
