/** Snapshots of command-handling state (migration 0008): read the newest one, write a newer one. */

import { InvalidArgumentError } from '../errors.js';
import { toJsonText } from '../events/json.js';

export interface SnapshotOptions {
  /** Names the fold, so that several handlers of one stream keep their own snapshots (1–100 letters, digits, `_.-`). */
  name: string;
  /** Take a snapshot once the stream has grown by this many events since the last one. */
  every: number;
  /**
   * The version of `evolve`. Raise it whenever `evolve` or the state's shape changes: snapshots of another version
   * are ignored (the stream is folded from its start) and replaced at the next snapshot.
   */
  version: number;
}

interface SnapshotRow {
  stream_version: string | number;
  state: unknown;
}

/** The newest snapshot of `stream` taken by the fold `name` at `version`, if any. */
export async function readSnapshot<S>(
  tx: { query<R extends object>(text: string, params?: readonly unknown[]): Promise<R[]> },
  schemaQ: string,
  stream: string,
  options: SnapshotOptions,
): Promise<{ state: S; version: number } | undefined> {
  const [row] = await tx.query<SnapshotRow>(
    `select stream_version, state from ${schemaQ}.snapshots
      where stream = $1 and name = $2 and evolve_version = $3`,
    [stream, options.name, options.version],
  );
  return row === undefined ? undefined : { state: row.state as S, version: Number(row.stream_version) };
}

/**
 * Stores `state` as the snapshot of `stream` at `streamVersion`, in the transaction that appended up to it, so a
 * snapshot never runs ahead of the events it stands for. A snapshot of another evolve version is replaced; one of
 * the same version is replaced only by a newer one.
 */
export async function writeSnapshot(
  tx: { query<R extends object>(text: string, params?: readonly unknown[]): Promise<R[]> },
  schemaQ: string,
  stream: string,
  options: SnapshotOptions,
  streamVersion: number,
  state: unknown,
): Promise<void> {
  let json: string;
  try {
    json = toJsonText(state, 'state');
  } catch (error) {
    throw new InvalidArgumentError(
      `handle: the state of ${JSON.stringify(stream)} cannot be stored as a snapshot: ${(error as Error).message} ` +
        'Snapshots hold plain JSON: keep the state JSON (no Dates, Maps, BigInts or class instances), or leave out ' +
        'the snapshots option.',
      { stream, snapshot: options.name },
    );
  }
  await tx.query(
    `insert into ${schemaQ}.snapshots as s (stream, name, evolve_version, stream_version, state)
     values ($1, $2, $3, $4, $5::jsonb)
     on conflict (stream, name) do update
       set evolve_version = excluded.evolve_version, stream_version = excluded.stream_version,
           state = excluded.state, taken_at = now()
       where s.evolve_version <> excluded.evolve_version or s.stream_version < excluded.stream_version`,
    [stream, options.name, options.version, streamVersion, json],
  );
}
