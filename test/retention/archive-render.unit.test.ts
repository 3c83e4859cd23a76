import { describe, expect, it } from 'vitest';
import { renderArchiveResult } from '../../src/cli/archive.js';
import type { ArchiveResult } from '../../src/retention/archive.js';

const base: ArchiveResult = {
  dir: '/archive',
  requested: '900:9000',
  bound: '900:9000',
  heldBy: [],
  deletionHeldBy: [],
  segments: ['00000001-1_100.ndjson.gz'],
  exported: 100,
  deleted: 100,
  resumed: [],
  archivedThrough: '900:9000',
  archivedEvents: 100,
};

describe('eventlane archive output', () => {
  it('says what was archived and deleted, and names no holder when none held the run', () => {
    const text = renderArchiveResult(base);
    expect(text).toContain(
      'Archived 100 events in 1 segments to /archive; deleted 100 from the events table.',
    );
    expect(text).not.toContain('held back');
    expect(text).not.toContain('stay in the events table');
  });

  it('names what lowered the bound and what kept verified segments in the table, each with its checkpoint', () => {
    const text = renderArchiveResult({
      ...base,
      bound: '500:5000',
      heldBy: [{ kind: 'relay', name: 'to-bus', checkpoint: '500:5000' }],
      deletionHeldBy: [{ kind: 'consumer', name: 'totals', checkpoint: '300:3000' }],
      deleted: 0,
    });
    expect(text).toContain(
      'Asked up to 900:9000, archived up to 500:5000: held back by\n  relay to-bus at 500:5000',
    );
    expect(text).toContain(
      'Verified segments stay in the events table until these have passed them (rerun archive then):\n' +
        '  consumer totals at 300:3000',
    );
  });
});
