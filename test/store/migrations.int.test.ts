import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEventStore } from '../../src/index.js';
import { MIGRATIONS } from '../../src/store/migrate.js';
import { dumpSchema } from '../../scripts/schema-dump.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable, uniqueSchema } from '../support/stores.js';

describe.skipIf(!pgAvailable())('migrations (PostgreSQL)', () => {
  it('the migrated schema matches schema/eventlane.sql (run `npm run schema:dump` after adding a migration)', async () => {
    const schema = uniqueSchema();
    const store = await createEventStore({ url: SERVICES.postgres.url, schema });
    try {
      const expected = readFileSync(new URL('../../schema/eventlane.sql', import.meta.url), 'utf8');
      expect(await dumpSchema(store.executor, schema)).toBe(expected);
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });

  it('eight processes migrating the same schema at once apply each migration exactly once', async () => {
    const schema = uniqueSchema();
    const stores = await Promise.all(
      Array.from({ length: 8 }, () =>
        createEventStore({ url: SERVICES.postgres.url, schema, migrate: false, poolSize: 1 }),
      ),
    );
    try {
      const results = await Promise.all(stores.map((s) => s.migrate()));
      const applied = results.flatMap((r) => r.applied);
      expect(applied).toEqual(MIGRATIONS.map((m) => m.name));
      const rows = await stores[0]!.executor.query<{ id: number }>(
        `select id from ${schema}.migrations order by id`,
      );
      expect(rows.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id));
      await stores[0]!.append('m-1', [{ type: 'x.a', data: {} }]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await dropSchema(schema);
    }
  });

  it('refuses a schema that is newer than this code, with a typed error', async () => {
    const schema = uniqueSchema();
    const store = await createEventStore({ url: SERVICES.postgres.url, schema });
    try {
      await store.executor.query(
        `insert into ${schema}.migrations (id, name) values (9999, 'from_the_future')`,
      );
      await expect(store.migrate()).rejects.toMatchObject({
        code: 'EVENTLANE_MIGRATION',
        message: expect.stringMatching(
          /at migration 9999, newer than this version of eventlane knows/,
        ) as string,
      });
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });
});

describe('migrations (embedded)', () => {
  it('keeps its data in a directory across reopenings', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eventlane-'));
    try {
      const first = await createEventStore({ dataDir: dir });
      await first.append('d-1', [{ type: 'x.a', data: { n: 1 } }]);
      await first.close();
      const second = await createEventStore({ dataDir: dir });
      expect(await second.migrate()).toMatchObject({ applied: [] });
      expect((await second.readStream('d-1')).map((e) => e.data)).toEqual([{ n: 1 }]);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
