import { InvalidArgumentError } from '../errors.js';

/** Partitions per store unless configured otherwise; recorded in the database so every process agrees. */
export const DEFAULT_PARTITIONS = 16;
export const MAX_PARTITIONS = 1024;

const encoder = new TextEncoder();

/**
 * The partition of a stream: FNV-1a (32-bit) over the stream name's UTF-8 bytes, modulo `partitions`.
 * Stable across processes, platforms and versions: changing it would move entities between partitions,
 * so it is part of eventlane's compatibility promise.
 */
export function partitionOf(stream: string, partitions: number): number {
  const bytes = encoder.encode(stream);
  let hash = 0x811c9dc5;
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}

/**
 * `partitionOf` with a cache of recent streams, for a reader that sees the same streams again and again (a
 * worker's log reader). The cache is emptied past 100,000 streams, so it stays small.
 */
export function cachedPartitionOf(partitions: number): (stream: string) => number {
  const cache = new Map<string, number>();
  return (stream) => {
    let p = cache.get(stream);
    if (p === undefined) {
      p = partitionOf(stream, partitions);
      if (cache.size > 100_000) cache.clear();
      cache.set(stream, p);
    }
    return p;
  };
}

export function checkPartitionCount(partitions: unknown): number {
  if (
    typeof partitions !== 'number' ||
    !Number.isInteger(partitions) ||
    partitions < 1 ||
    partitions > MAX_PARTITIONS
  ) {
    throw new InvalidArgumentError(
      `partitions must be a whole number from 1 to ${MAX_PARTITIONS}, got ${String(partitions)}.`,
      { partitions },
    );
  }
  return partitions;
}
