import type { SqlExecutor } from '../store/drivers/driver.js';

/**
 * Leadership of a relay name: a lease row in `relay_checkpoints` with a fencing token.
 *
 * Why a lease and not a session advisory lock: it needs no connection held open for the relay's lifetime (the store
 * may be a caller's pool, a single client or PGlite), it survives a pooler, and the token lets every checkpoint
 * write prove that no other relay took over in between. Times are the database's `now()`, so clocks of relay hosts
 * do not matter; the holder keeps a local deadline measured from before each renewal, which errs on the safe side.
 */
export interface Lease {
  name: string;
  owner: string;
  token: bigint;
  /** `performance.now()` before which the lease is certainly still ours. */
  deadline: number;
}

export async function tryAcquireLease(
  db: SqlExecutor,
  q: string,
  name: string,
  owner: string,
  leaseMs: number,
): Promise<{ lease: Lease; checkpoint: string } | undefined> {
  const started = performance.now();
  await db.query(`insert into ${q}.relay_checkpoints (name) values ($1) on conflict (name) do nothing`, [
    name,
  ]);
  const [row] = await db.query<{ checkpoint: string; fencing_token: string }>(
    `update ${q}.relay_checkpoints
        set owner = $2, fencing_token = fencing_token + 1,
            lease_until = now() + $3 * interval '1 millisecond', updated_at = now()
      where name = $1 and (lease_until < now() or owner is null)
      returning checkpoint, fencing_token::text as fencing_token`,
    [name, owner, leaseMs],
  );
  if (!row) return undefined;
  return {
    lease: { name, owner, token: BigInt(row.fencing_token), deadline: started + leaseMs },
    checkpoint: row.checkpoint,
  };
}

/** Extends the lease; false when another relay took it over (the token moved on). */
export async function renewLease(
  db: SqlExecutor,
  q: string,
  lease: Lease,
  leaseMs: number,
): Promise<boolean> {
  const started = performance.now();
  const rows = await db.query(
    `update ${q}.relay_checkpoints set lease_until = now() + $3 * interval '1 millisecond'
      where name = $1 and fencing_token = $2::bigint
      returning 1 as ok`,
    [lease.name, lease.token.toString(), leaseMs],
  );
  if (rows.length === 0) return false;
  lease.deadline = started + leaseMs;
  return true;
}

/**
 * Moves the checkpoint (and extends the lease) only while the token is still ours: a relay that lost its lease can
 * never move the checkpoint of the one that took over. False when the lease is lost.
 */
export async function saveCheckpoint(
  db: SqlExecutor,
  q: string,
  lease: Lease,
  leaseMs: number,
  checkpoint: string,
  published: number,
): Promise<boolean> {
  const started = performance.now();
  const rows = await db.query(
    `update ${q}.relay_checkpoints
        set checkpoint = $3, published = published + $4, updated_at = now(),
            lease_until = now() + $5 * interval '1 millisecond'
      where name = $1 and fencing_token = $2::bigint
      returning 1 as ok`,
    [lease.name, lease.token.toString(), checkpoint, published, leaseMs],
  );
  if (rows.length === 0) return false;
  lease.deadline = started + leaseMs;
  return true;
}

/** Gives the lease up so a standby takes over at once rather than after it expires. */
export async function releaseLease(db: SqlExecutor, q: string, lease: Lease): Promise<void> {
  await db.query(
    `update ${q}.relay_checkpoints set lease_until = '-infinity', owner = null
      where name = $1 and fencing_token = $2::bigint`,
    [lease.name, lease.token.toString()],
  );
}

export async function readRelayCheckpoint(
  db: SqlExecutor,
  q: string,
  name: string,
): Promise<string | undefined> {
  const [row] = await db.query<{ checkpoint: string }>(
    `select checkpoint from ${q}.relay_checkpoints where name = $1`,
    [name],
  );
  return row?.checkpoint;
}
