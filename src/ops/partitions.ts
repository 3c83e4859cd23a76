// A consumer's partitions as the database records them: each partition's checkpoint and, for the worker groups that
// run the consumer, which worker holds its lease and when that worker last renewed it.

import { UnknownConsumerError } from '../errors.js';
import type { EventStore } from '../store/event-store.js';
import { quoteIdent } from '../store/names.js';
import { consumerNames } from './inventory.js';

export interface PartitionStatus {
  partition: number;
  /** The worker group whose lease table holds the partition; null when no worker of the consumer is recorded. */
  group: string | null;
  /** The worker id holding the lease, or null while nobody holds it. */
  owner: string | null;
  /** Seconds since the owner last renewed the lease; null without an owner. */
  heartbeatAgeSeconds: number | null;
  /** Where the consumer stands in the log in this partition; null before its first commit there. */
  checkpoint: string | null;
}

export async function listPartitions(store: EventStore, consumer: string): Promise<PartitionStatus[]> {
  const names = await consumerNames(store);
  if (!names.includes(consumer)) throw new UnknownConsumerError(consumer, names);
  const q = quoteIdent(store.schema);
  const rows = await store.executor.query<{
    partition: number;
    group_name: string | null;
    owner: string | null;
    age: number | null;
    checkpoint: string | null;
  }>(
    `select coalesce(l.partition, c.partition) as partition, l.group_name, l.owner, c.checkpoint,
            case when l.owner is null then null
                 else extract(epoch from now() - l.heartbeat_at)::float8 end as age
       from (select * from ${q}.partition_leases
              where group_name in (select group_name from ${q}.consumer_workers where $1 = any(consumers))) l
       full join (select * from ${q}.consumer_checkpoints where consumer = $1) c on c.partition = l.partition
      order by 1, 2`,
    [consumer],
  );
  return rows.map((r) => ({
    partition: r.partition,
    group: r.group_name,
    owner: r.owner,
    heartbeatAgeSeconds: r.age === null ? null : Math.max(0, r.age),
    checkpoint: r.checkpoint,
  }));
}
