import { afterEach, describe, expect, it } from 'vitest';
import {
  createProjections,
  ErrorCodes,
  isEventlaneError,
  type EventStore,
  type Projections,
  type ProjectionsOptions,
} from '../../src/index.js';
import { pointViews } from '../../src/projections/tables.js';
import type { Driver } from '../../src/store/drivers/driver.js';
import { quoteIdent } from '../../src/store/names.js';
import { dropSchema, pgAvailable, uniqueSchema } from '../support/stores.js';
import { openPgStore } from '../consumers/helpers.js';
import { summary } from './fixtures/model.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A store and a read schema of their own, both dropped after the test. */
async function setup(): Promise<{ store: EventStore; read: string; r: string }> {
  const store = await openPgStore();
  const read = uniqueSchema();
  cleanups.push(async () => {
    await store.close();
    await dropSchema(store.schema);
    await dropSchema(read);
  });
  // No events: the switch happens as soon as the (empty) history is built, and no test here waits on log
  // readability, which a long transaction anywhere on the server holds back.
  await store.executor.exec(`create schema ${quoteIdent(read)}`);
  return { store, read, r: quoteIdent(read) };
}

function run(store: EventStore, options: ProjectionsOptions): Projections {
  const p = createProjections(store, { pollMs: 10, ...options });
  cleanups.push(() => p.stop());
  return p;
}

/** Everything a person sees of an object: its kind, its definition (views) and its rows. */
async function snapshot(store: EventStore, read: string, name: string): Promise<unknown> {
  const [meta] = await store.executor.query<{ kind: string; def: string | null; comment: string | null }>(
    `select c.relkind::text as kind, case when c.relkind = 'v' then pg_get_viewdef(c.oid) end as def,
            obj_description(c.oid, 'pg_class') as comment
       from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2`,
    [read, name],
  );
  const rows = await store.executor.query(`select * from ${quoteIdent(read)}.${quoteIdent(name)} order by 1`);
  return { ...meta, rows };
}

async function failure(f: () => Promise<unknown>): Promise<unknown> {
  return f().then(
    () => 'no error',
    (e: unknown) => e,
  );
}

describe.skipIf(!pgAvailable())('projections never take over objects they did not create', () => {
  it.each([
    ['view', (r: string) => `create view ${r}.order_summary as select 'mine'::text as owner, 42 as answer`],
    [
      'table',
      (r: string) =>
        `create table ${r}.order_summary (owner text, answer int);
         insert into ${r}.order_summary values ('mine', 42), ('also mine', 7)`,
    ],
  ])(
    'a user %s of the stable name: start fails with a typed error, the object stays as it was',
    async (_, ddl) => {
      const { store, read, r } = await setup();
      await store.executor.exec(ddl(r));
      const before = await snapshot(store, read, 'order_summary');
      const p = run(store, { projections: [summary(1)], schema: read });
      const error = await failure(() => p.start());
      expect(isEventlaneError(error, ErrorCodes.PROJECTION_OBJECT_TAKEN), String(error)).toBe(true);
      expect((error as Error).message).toContain(`"${read}.order_summary"`);
      expect((error as Error).message).toMatch(/another `schema`/);
      // Given time, nothing switches behind the error either.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await snapshot(store, read, 'order_summary')).toEqual(before);
      const [registered] = await store.executor.query<{ n: number }>(
        `select count(*)::int as n from ${quoteIdent(store.schema)}.projections`,
      );
      expect(registered!.n).toBe(0);
    },
  );

  it('a user table of a versioned name is refused too', async () => {
    const { store, read, r } = await setup();
    await store.executor.exec(
      `create table ${r}.order_summary__v1 (x int); insert into ${r}.order_summary__v1 values (1)`,
    );
    const error = await failure(() => run(store, { projections: [summary(1)], schema: read }).start());
    expect(isEventlaneError(error, ErrorCodes.PROJECTION_OBJECT_TAKEN), String(error)).toBe(true);
    expect(await store.executor.query(`select * from ${r}.order_summary__v1`)).toEqual([{ x: 1 }]);
  });

  it('the switch itself refuses an object that appeared after start, and leaves it as it was', async () => {
    const { store, read, r } = await setup();
    await store.executor.exec(`create view ${r}.order_summary as select 'mine'::text as owner`);
    const before = await snapshot(store, read, 'order_summary');
    const error = await failure(() =>
      (store.executor as Driver).transaction(async (ex) => {
        await ex.exec(`create table ${r}.order_summary__v1 (stream text)`);
        await pointViews(ex, summary(1), read, 1);
      }),
    );
    expect(isEventlaneError(error, ErrorCodes.PROJECTION_OBJECT_TAKEN), String(error)).toBe(true);
    expect(await snapshot(store, read, 'order_summary')).toEqual(before);
  });

  it("eventlane's own views are still replaced on switch, also views an earlier release left unmarked", async () => {
    const { store, read, r } = await setup();
    const v1 = run(store, { projections: [summary(1)], schema: read });
    await v1.start();
    await v1.waitLive('order_summary');
    await v1.stop();
    const live1 = (await snapshot(store, read, 'order_summary')) as { def: string; comment: string };
    expect(live1.def).toContain('order_summary__v1');
    expect(live1.comment).toMatch(/^eventlane:projection-view/);

    const v2 = run(store, { projections: [summary(2)], schema: read });
    await v2.start();
    await v2.waitLive('order_summary');
    await v2.stop();
    expect(((await snapshot(store, read, 'order_summary')) as { def: string }).def).toContain(
      'order_summary__v2',
    );

    // A view made before views were marked: the registry lists it as this projection's, so it is adopted.
    await store.executor.exec(`comment on view ${r}.order_summary is null`);
    const v3 = run(store, { projections: [summary(3)], schema: read });
    await v3.start();
    await v3.waitLive('order_summary');
    const live3 = (await snapshot(store, read, 'order_summary')) as { def: string; comment: string };
    expect(live3.def).toContain('order_summary__v3');
    expect(live3.comment).toMatch(/^eventlane:projection-view/);
  });
});
