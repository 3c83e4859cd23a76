import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExpectedVersionConflictError, type EventStore } from '../../src/index.js';
import { dropSchema, storeTargets } from '../support/stores.js';

const WRITERS = 32;
const WINS_PER_WRITER = 5;

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`optimistic concurrency on ${target.name}`, () => {
    let store: EventStore;
    beforeAll(async () => {
      store = await target.open({ poolSize: 16 });
    });
    afterAll(async () => {
      await store?.close();
      if (target.name === 'pg') await dropSchema(store.schema);
    });

    it(`${WRITERS} writers racing on one stream: contiguous positions, one winner per position, losers told the actual version`, async () => {
      const conflicts: { expected: number; actual: number }[] = [];
      const wins: { writer: number; positions: number[] }[] = [];
      await Promise.all(
        Array.from({ length: WRITERS }, async (_, writer) => {
          let won = 0;
          while (won < WINS_PER_WRITER) {
            const version = await store.streamVersion('race');
            try {
              const r = await store.append('race', [{ type: 'race.step', data: { writer, n: won } }], {
                expectedVersion: version,
              });
              wins.push({ writer, positions: r.positions });
              won++;
            } catch (error) {
              if (!(error instanceof ExpectedVersionConflictError)) throw error;
              conflicts.push({ expected: error.expected as number, actual: error.actual });
            }
          }
        }),
      );
      const total = WRITERS * WINS_PER_WRITER;
      const events = await store.readStream('race');
      expect(events.map((e) => e.streamPosition)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      // Each position was won by exactly one append, and the stored event is the winner's.
      const winnerOf = new Map(wins.map((w) => [w.positions[0]!, w.writer]));
      expect(winnerOf.size).toBe(total);
      for (const e of events)
        expect((e.data as { writer: number }).writer).toBe(winnerOf.get(e.streamPosition));
      // Every loser was told a version ahead of the one it expected.
      for (const c of conflicts) expect(c.actual).toBeGreaterThan(c.expected);
      if (target.name === 'pg') expect(conflicts.length).toBeGreaterThan(0);
    });
  });
}
