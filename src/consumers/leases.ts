import { WorkerStateError } from '../errors.js';
import type { SqlExecutor } from '../store/drivers/driver.js';

export interface LeaseOptions {
  group: string;
  consumers: readonly string[];
  workerId: string;
  partitions: number;
  leaseTtlMs: number;
  /** The breaker state of each consumer, stored with every heartbeat for operators in other processes. */
  breakers?: () => Record<string, string>;
}

export interface LeaseChanges {
  /** Partitions this worker must stop (lost to another worker, or to hand over); release() them afterwards. */
  lost: number[];
  handOver: number[];
  /** Newly acquired partitions with their fencing tokens. */
  acquired: Map<number, number>;
}

/**
 * Partition leases in PostgreSQL. Each tick a worker renews its own leases, lists the live workers of its group,
 * and targets an even share: partition p belongs to the (p mod n)-th live worker by id. It hands over partitions
 * targeted elsewhere and takes those targeted to it once free or expired. A takeover bumps the fencing token.
 * All time comparisons use the database clock, so worker clocks may drift.
 */
export class LeaseManager {
  readonly owned = new Map<number, number>();
  readonly #ex: SqlExecutor;
  readonly #q: string;
  readonly #o: LeaseOptions;

  constructor(ex: SqlExecutor, q: string, options: LeaseOptions) {
    this.#ex = ex;
    this.#q = q;
    this.#o = options;
  }

  async init(): Promise<void> {
    await this.#ex.query(
      `insert into ${this.#q}.partition_leases (group_name, partition)
       select $1, p from generate_series(0, $2::int - 1) as p on conflict do nothing`,
      [this.#o.group, this.#o.partitions],
    );
  }

  /**
   * Live workers of another group that run one of our consumers: two groups lease partitions independently, so both
   * would process that consumer's partitions. (Workers of one group with different consumer sets, as in a rolling
   * deploy that adds a consumer, are fine: a consumer progresses on the partitions its workers own and catches up on
   * the others, from their checkpoints, when they move to such a worker.)
   */
  async conflicts(): Promise<{ group_name: string; consumers: string[] }[]> {
    return this.#ex.query(
      `select group_name, consumers from ${this.#q}.consumer_workers
        where heartbeat_at > now() - $3::float8 * interval '1 millisecond'
          and group_name <> $1 and consumers && $2::text[]
        limit 1`,
      [this.#o.group, this.#o.consumers, this.#o.leaseTtlMs],
    );
  }

  async tick(): Promise<LeaseChanges> {
    const { group, workerId, partitions, leaseTtlMs } = this.#o;
    const q = this.#q;
    await this.#ex.query(
      `insert into ${q}.consumer_workers (group_name, worker_id, consumers, breakers) values ($1, $2, $3, $4)
       on conflict (group_name, worker_id) do update set heartbeat_at = now(), breakers = excluded.breakers`,
      [group, workerId, this.#o.consumers, JSON.stringify(this.#o.breakers?.() ?? {})],
    );
    // Both updates lock their rows in partition order (the CTE's row locks over a sorted scan): two workers'
    // statements taking rows in different orders — one renewing a lease the other takes over as expired — would
    // otherwise deadlock when many workers tick at once. The renewal takes NO KEY UPDATE locks, which the fence of
    // the owner's in-flight batches (KEY SHARE, src/consumers/sql.ts) does not block: a slow batch does not delay
    // the heartbeat. A takeover takes FOR UPDATE, which waits for those batches to commit.
    const renewed = await this.#ex.query<{ partition: number; fencing_token: string }>(
      `with mine as (
         select partition from ${q}.partition_leases where group_name = $1 and owner = $2
          order by partition for no key update)
       update ${q}.partition_leases l set heartbeat_at = now() from mine
        where l.group_name = $1 and l.partition = mine.partition and l.owner = $2
       returning l.partition, l.fencing_token`,
      [group, workerId],
    );
    const still = new Map(renewed.map((r) => [r.partition, Number(r.fencing_token)]));
    const lost: number[] = [];
    for (const [p, token] of this.owned) {
      if (still.get(p) !== token) lost.push(p);
    }
    for (const p of lost) this.owned.delete(p);
    const live = await this.#ex.query<{ worker_id: string }>(
      `select worker_id from ${q}.consumer_workers
        where group_name = $1 and heartbeat_at > now() - $2::float8 * interval '1 millisecond'
        order by worker_id`,
      [group, leaseTtlMs],
    );
    const ids = live.map((r) => r.worker_id);
    const me = ids.indexOf(workerId);
    const targets = new Set<number>();
    if (me >= 0) for (let p = 0; p < partitions; p++) if (p % ids.length === me) targets.add(p);
    const handOver = [...this.owned.keys()].filter((p) => !targets.has(p));
    const wanted = [...targets].filter((p) => !this.owned.has(p));
    const acquired = new Map<number, number>();
    if (wanted.length > 0) {
      const rows = await this.#ex.query<{ partition: number; fencing_token: string }>(
        `with free as (
           select partition from ${q}.partition_leases
            where group_name = $1 and partition = any($3::int[])
              and (owner is null or owner = $2 or heartbeat_at < now() - $4::float8 * interval '1 millisecond')
            order by partition for update)
         update ${q}.partition_leases l
            set owner = $2, fencing_token = l.fencing_token + 1, heartbeat_at = now(), acquired_at = now()
           from free where l.group_name = $1 and l.partition = free.partition
          returning l.partition, l.fencing_token`,
        [group, workerId, wanted, leaseTtlMs],
      );
      for (const r of rows) {
        acquired.set(r.partition, Number(r.fencing_token));
        this.owned.set(r.partition, Number(r.fencing_token));
      }
    }
    return { lost, handOver, acquired };
  }

  /** Gives a partition back (after its lanes stopped), so the next owner need not wait for the lease to expire. */
  async release(partition: number): Promise<void> {
    const token = this.owned.get(partition);
    this.owned.delete(partition);
    if (token === undefined) return;
    await this.#ex.query(
      `update ${this.#q}.partition_leases set owner = null, heartbeat_at = null
        where group_name = $1 and partition = $2 and owner = $3 and fencing_token = $4`,
      [this.#o.group, partition, this.#o.workerId, token],
    );
  }

  async leave(): Promise<void> {
    await this.#ex.query(`delete from ${this.#q}.consumer_workers where group_name = $1 and worker_id = $2`, [
      this.#o.group,
      this.#o.workerId,
    ]);
  }
}

/** The refusal of a worker whose consumers a live worker of another group runs already. */
export function groupConflict(
  conflict: { group_name: string; consumers: string[] },
  consumers: readonly { name: string }[],
  group: string,
): WorkerStateError {
  return new WorkerStateError(
    `A live worker of group ${JSON.stringify(conflict.group_name)} runs consumers [${conflict.consumers.join(', ')}]; ` +
      `this one would run [${consumers.map((c) => c.name).join(', ')}] in group ${JSON.stringify(group)}. ` +
      'Workers that run the same consumer must share a group (option `group`), so that each partition of each ' +
      'consumer has exactly one owner.',
  );
}
