import { describe, expect, it } from 'vitest';
import { partitionOf } from '../src/bus/partition.js';

describe('partitionOf', () => {
  it('is FNV-1a 32-bit of the UTF-8 bytes modulo the partition count', () => {
    // FNV-1a("a") = 0xe40c292c, FNV-1a("") = 0x811c9dc5 (published reference values).
    expect(partitionOf('a', 2 ** 31)).toBe(0xe40c292c % 2 ** 31);
    expect(partitionOf('', 1000)).toBe(0x811c9dc5 % 1000);
    expect(partitionOf('order-42', 16)).toBe(partitionOf('order-42', 16));
  });

  it('spreads streams over all partitions', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[partitionOf(`order-${i}`, 16)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(700);
  });
});
