import { createCipheriv, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createEventStore,
  createProjections,
  createReplay,
  createWorker,
  defineEvent,
  defineProjection,
  ERASED_MARK,
  ErrorCodes,
  isEventlaneError,
  parkedEvents,
  PERSONAL_MARK,
  PersonalDataUnreadableError,
  type EventStore,
  type StoredEvent,
} from '../../src/index.js';
import { quoteIdent } from '../../src/store/names.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, storeTargets, uniqueSchema, waitForHead } from '../support/stores.js';
import { scaled } from '../support/time.js';
import { waitFor } from '../consumers/helpers.js';

const UserRegistered = defineEvent({
  type: 'user.registered',
  owner: 'accounts',
  versions: { 1: z.object({ userId: z.string(), email: z.string(), name: z.string(), plan: z.string() }) },
  personal: { subject: 'userId', fields: ['email', 'name'] },
});
const UserRenamed = defineEvent({
  type: 'user.renamed',
  owner: 'accounts',
  versions: { 1: z.object({ userId: z.string(), name: z.string().optional() }) },
  personal: { subject: 'userId', fields: ['name'] },
});
const PlanChanged = defineEvent({
  type: 'user.plan_changed',
  owner: 'accounts',
  versions: { 1: z.object({ userId: z.string(), plan: z.string() }) },
});
const CONTRACTS = [UserRegistered, UserRenamed, PlanChanged] as const;

const register = (userId: string, name = `Name of ${userId}`) =>
  UserRegistered.create({ userId, email: `${userId}@example.com`, name, plan: 'free' });

async function rawRows(store: EventStore, stream: string): Promise<string> {
  const rows = await store.executor.query<{ data: string; metadata: string }>(
    `select data::text as data, metadata::text as metadata from ${quoteIdent(store.schema)}.events
      where stream = $1 order by stream_position`,
    [stream],
  );
  return rows.map((r) => r.data + r.metadata).join('\n');
}

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(`personal data on ${target.name}`, () => {
    let store: EventStore;
    beforeAll(async () => {
      store = await createEventStore({
        ...(target.name === 'pg' ? { url: SERVICES.postgres.url, schema: uniqueSchema() } : {}),
        events: CONTRACTS,
      });
    });
    afterAll(async () => {
      await store?.close();
      if (target.name === 'pg') await dropSchema(store.schema);
    });

    it('stores personal fields encrypted and reads them back decrypted everywhere', async () => {
      await store.append('user-u1', [register('u1', 'Ada Lovelace')]);
      await store.append('user-u1', [UserRenamed.create({ userId: 'u1', name: 'Ada King' })]);
      const last = await store.append('user-u1', [PlanChanged.create({ userId: 'u1', plan: 'pro' })]);
      // Log reads see a commit once older transactions anywhere on the server have ended.
      await waitForHead(store, last.checkpoint);
      const raw = await rawRows(store, 'user-u1');
      expect(raw).not.toContain('Ada');
      expect(raw).not.toContain('u1@example.com');
      expect(raw).toContain('elenc2:');
      expect(raw).toContain('"free"'); // fields not declared personal stay in clear
      const [key] = await store.executor.query<{ n: number }>(
        `select count(*)::int as n from ${quoteIdent(store.schema)}.subject_keys where subject = 'u1'`,
      );
      expect(key!.n).toBe(1);

      const events = await store.readStream('user-u1');
      expect(events.map((e) => e.data)).toEqual([
        { userId: 'u1', email: 'u1@example.com', name: 'Ada Lovelace', plan: 'free' },
        { userId: 'u1', name: 'Ada King' },
        { userId: 'u1', plan: 'pro' },
      ]);
      expect(events[0]!.metadata).toEqual({});
      const log = await store.readLog({ streamPrefix: 'user-u1' });
      expect(log.events.map((e) => e.data)).toEqual(events.map((e) => e.data));
      const iterated: StoredEvent[] = [];
      for await (const e of store.iterateLog({ streamPrefix: 'user-u1' })) iterated.push(e);
      expect(iterated.map((e) => e.data)).toEqual(events.map((e) => e.data));
      // An optional personal field left out is not encrypted, and needs no key.
      await store.append('user-u9', [UserRenamed.create({ userId: 'u9' })]);
      expect((await store.readStream('user-u9'))[0]!.data).toEqual({ userId: 'u9' });
    });

    it('forget erases the fields on every read, keeps the rest, and is refused for bad input', async () => {
      await waitForHead(store, (await store.append('user-u2', [register('u2')])).checkpoint);
      expect(await store.forget('u1')).toEqual({ subject: 'u1', forgotten: true });
      expect(await store.forget('u1')).toEqual({ subject: 'u1', forgotten: false });
      const [registered, renamed, plan] = await store.readStream('user-u1');
      expect(registered!.data).toEqual({ userId: 'u1', email: null, name: null, plan: 'free' });
      expect(registered!.metadata[ERASED_MARK]).toEqual(['email', 'name']);
      expect(renamed!.data).toEqual({ userId: 'u1', name: null });
      expect(plan!.metadata[ERASED_MARK]).toBeUndefined();
      const log = await store.readLog({ streamPrefix: 'user-u' });
      expect(log.events.find((e) => e.stream === 'user-u1')!.data).toMatchObject({ email: null });
      expect(log.events.find((e) => e.stream === 'user-u2')!.data).toMatchObject({ email: 'u2@example.com' });
      for (const bad of ['', 3, 'x'.repeat(201)]) {
        await expect(store.forget(bad as string)).rejects.toMatchObject({
          code: ErrorCodes.INVALID_ARGUMENT,
        });
      }
      // New personal data of a forgotten subject is a new fact: a new key; the old events stay erased.
      await store.append('user-u1', [UserRenamed.create({ userId: 'u1', name: 'Ada B.' })]);
      const after = await store.readStream('user-u1');
      expect(after.map((e) => (e.data as { name?: unknown }).name)).toEqual([
        null,
        null,
        undefined,
        'Ada B.',
      ]);
    });

    it('refuses an event without its subject, and writes nothing', async () => {
      const error = await store
        .append('user-x', [{ type: 'user.renamed', data: { userId: '', name: 'Someone' } }])
        .catch((e: unknown) => e);
      expect(isEventlaneError(error, ErrorCodes.PERSONAL_SUBJECT)).toBe(true);
      expect((error as Error).message).toContain('data.userId');
      expect(await store.streamVersion('user-x')).toBe(0);
    });

    it('a tampered ciphertext is a typed error on read, not a crash', async () => {
      await store.append('user-t1', [register('t1')]);
      await waitForHead(store, (await store.append('user-t2', [register('t2')])).checkpoint);
      // Copy t2's sealed fields into t1 (different event, different key), edit t1's field list, truncate t2's seal.
      const events = quoteIdent(store.schema) + '.events';
      await store.executor.query(
        `update ${events} t set metadata = jsonb_set(t.metadata, '{${PERSONAL_MARK},sealed}', s.metadata -> '${PERSONAL_MARK}' -> 'sealed')
           from ${events} s where t.stream = 'user-t1' and s.stream = 'user-t2'`,
      );
      const error = await store.readStream('user-t1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PersonalDataUnreadableError);
      expect(isEventlaneError(error, ErrorCodes.PERSONAL_DATA_UNREADABLE)).toBe(true);
      expect((error as Error).message).toContain('fields "email", "name"');
      expect((error as Error).message).toContain('user-t1');
      expect((error as Error).message).toContain('fails authentication');
      const original = await store.executor.query<{ sealed: string }>(
        `select metadata -> '${PERSONAL_MARK}' ->> 'sealed' as sealed from ${events} where stream = 'user-t2'`,
      );
      // Sets one entry of user-t2's personal mark to a JSON value.
      const setMark = (entry: string, json: string) =>
        store.executor.query(
          `update ${events} set metadata = jsonb_set(metadata, '{${PERSONAL_MARK},${entry}}', $1::jsonb)
            where stream = 'user-t2'`,
          [json],
        );
      await setMark('fields', '["email"]');
      await expect(store.readStream('user-t2')).rejects.toMatchObject({
        code: ErrorCodes.PERSONAL_DATA_UNREADABLE,
        message: expect.stringContaining('fails authentication'),
      });
      await setMark('fields', '["email", "name"]');
      expect((await store.readStream('user-t2'))[0]!.data).toMatchObject({ name: 'Name of t2' });
      expect(original[0]!.sealed).toMatch(/^elenc2:/);
      await setMark('sealed', '"elenc2:AAAA"');
      await expect(store.readStream('user-t2')).rejects.toMatchObject({
        code: ErrorCodes.PERSONAL_DATA_UNREADABLE,
        message: expect.stringContaining('too short'),
      });
      await expect(store.readLog({ streamPrefix: 'user-t' })).rejects.toMatchObject({
        code: ErrorCodes.PERSONAL_DATA_UNREADABLE,
      });
    });

    it("a filtered backfill fills a stream's earlier events in decrypted, as the page's own events", async () => {
      const t = `${quoteIdent(store.schema)}.contacts`;
      await store.executor.query(`create table ${t} (id text primary key, email text, plan text)`);
      await store.append('user-b1', [register('b1')]);
      const last = await store.append('user-b1', [PlanChanged.create({ userId: 'b1', plan: 'pro' })]);
      await waitForHead(store, last.checkpoint);
      const contacts = defineProjection({
        name: 'contacts',
        handlers: {
          'user.registered': async (e, { query }) => {
            const d = e.data as { userId: string; email: string };
            await query(`insert into ${t} (id, email) values ($1, $2)`, [d.userId, d.email]);
          },
          'user.plan_changed': async (e, { query }) => {
            const d = e.data as { userId: string; plan: string };
            await query(`update ${t} set plan = $2 where id = $1`, [d.userId, d.plan]);
          },
        },
      });
      const replay = createReplay(store, { consumers: [contacts] });
      // Only plan changes are asked for: the registration comes first by per-stream order (a gap fill).
      const job = await replay.start({
        kind: 'backfill',
        consumer: 'contacts',
        types: ['user.plan_changed'],
        streamPrefix: 'user-b',
      });
      expect(await replay.wait(job.id)).toMatchObject({ state: 'completed', applied: 1 });
      const rows = await store.executor.query(`select id, email, plan from ${t}`);
      expect(rows).toEqual([{ id: 'b1', email: 'b1@example.com', plan: 'pro' }]);
    });

    it('reads events of the first stored form (each field sealed in place), and forgets them', async () => {
      // The first stored form, written by hand as it was written before: `elenc1:` + iv ‖ ciphertext ‖ tag in each
      // field, the field's JSON text as plaintext, `eventlane:<id>:<field>` as additional data, no `sealed`.
      const events = quoteIdent(store.schema) + '.events';
      await waitForHead(store, (await store.append('user-o1', [register('o1')])).checkpoint);
      const [row] = await store.executor.query<{ id: string; key_id: string; key_hex: string }>(
        `select e.id::text as id, k.key_id::text as key_id, encode(k.key, 'hex') as key_hex
           from ${events} e join ${quoteIdent(store.schema)}.subject_keys k on k.subject = 'o1'
          where e.stream = 'user-o1'`,
      );
      const key = Buffer.from(row!.key_hex, 'hex');
      const sealField = (field: string, value: unknown): string => {
        const iv = randomBytes(12);
        const cipher = createCipheriv('aes-256-gcm', key, iv);
        cipher.setAAD(Buffer.from(`eventlane:${row!.id}:${field}`));
        const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
        return 'elenc1:' + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
      };
      const mark = { subject: 'o1', key: row!.key_id, fields: ['email', 'name'] };
      const data = {
        userId: 'o1',
        plan: 'free',
        email: sealField('email', 'old@example.com'),
        name: sealField('name', 'Old Form'),
      };
      await store.executor.query(
        `update ${events} set data = $1::jsonb, metadata = jsonb_build_object('${PERSONAL_MARK}', $2::jsonb)
          where stream = 'user-o1'`,
        [JSON.stringify(data), JSON.stringify(mark)],
      );
      const [read] = await store.readStream('user-o1');
      expect(read!.data).toEqual({ userId: 'o1', email: 'old@example.com', name: 'Old Form', plan: 'free' });
      expect(read!.metadata).toEqual({});
      // A field of the first form copied into the other fails authentication, naming that one field.
      await store.executor.query(
        `update ${events} set data = jsonb_set(data, '{name}', data -> 'email') where stream = 'user-o1'`,
      );
      const error = await store.readStream('user-o1').catch((e: unknown) => e);
      expect(isEventlaneError(error, ErrorCodes.PERSONAL_DATA_UNREADABLE)).toBe(true);
      expect((error as Error).message).toContain('field "name"');
      await store.forget('o1');
      const [erased] = await store.readStream('user-o1');
      expect(erased!.data).toEqual({ userId: 'o1', email: null, name: null, plan: 'free' });
      expect(erased!.metadata[ERASED_MARK]).toEqual(['email', 'name']);
    });
  });
}

describe.skipIf(!storeTargets()[0]!.available)(
  'personal data across processes, workers and rebuilds (pg)',
  () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      while (cleanups.length) await cleanups.pop()!();
    });
    // Cleanups run last-in first-out: workers stop, then stores close, then the schema is dropped.
    async function open(schema?: string): Promise<EventStore> {
      if (schema === undefined) {
        schema = uniqueSchema();
        const owned = schema;
        cleanups.push(() => dropSchema(owned));
      }
      const store = await createEventStore({ url: SERVICES.postgres.url, schema, events: CONTRACTS });
      cleanups.push(async () => {
        await store.close();
      });
      return store;
    }

    it('an append with a key another process forgot since writes under a new key, never the gone one', async () => {
      const a = await open();
      const b = await open(a.schema);
      await a.append('user-p1', [register('p1', 'First')]); // a keeps the key in memory
      await b.forget('p1');
      await a.append('user-p1', [UserRenamed.create({ userId: 'p1', name: 'Second' })]);
      const names = (await b.readStream('user-p1')).map((e) => (e.data as { name: unknown }).name);
      expect(names).toEqual([null, 'Second']);
    });

    it('a worker parks the event it cannot decrypt and goes on with other streams', async () => {
      const store = await open();
      const q = quoteIdent(store.schema);
      await store.executor.query(`create table ${q}.names (stream text primary key, name text)`);
      const names = defineProjection({
        name: 'names',
        handlers: {
          'user.registered': async (e, { query }) => {
            await query(
              `insert into ${q}.names values ($1, $2) on conflict (stream) do update set name = $2`,
              [e.stream, (e.data as { name: string | null }).name],
            );
          },
        },
      });
      for (let i = 1; i <= 4; i++) await store.append(`user-w${i}`, [register(`w${i}`)]);
      await store.executor.query(
        `update ${q}.events
            set metadata = jsonb_set(metadata, '{${PERSONAL_MARK},sealed}',
                                     to_jsonb(left(metadata -> '${PERSONAL_MARK}' ->> 'sealed', -2) || 'xx'))
          where stream = 'user-w2'`,
      );
      const worker = createWorker(store, {
        from: 'log',
        consumers: [names],
        partitions: 2,
        retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
        parkedPollMs: 50,
      });
      cleanups.push(() => worker.stop());
      await worker.start();
      const parked = parkedEvents(store);
      await waitFor('the unreadable event parked', async () => (await parked.list()).length === 1);
      await waitFor('the other streams applied', async () => {
        const rows = await store.executor.query(`select 1 from ${q}.names`);
        return rows.length === 3;
      });
      const [p] = await parked.list();
      expect(p).toMatchObject({ stream: 'user-w2', errorCode: ErrorCodes.PERSONAL_DATA_UNREADABLE });
      await store.append('user-w5', [register('w5', 'Late')]);
      await waitFor('the worker still applies new events', async () => {
        const rows = await store.executor.query<{ name: string }>(
          `select name from ${q}.names where stream = 'user-w5'`,
        );
        return rows[0]?.name === 'Late';
      });
    });

    it('a projection rebuilt after a forget holds no trace of the erased fields', async () => {
      const store = await open();
      const projection = (version: number) =>
        defineProjection({
          name: 'people',
          version,
          tables: { people: 'create table :TABLE: (user_id text primary key, email text, plan text)' },
          handlers: {
            'user.registered': async (e, { query, tables }) => {
              const d = e.data as { userId: string; email: string | null; plan: string };
              await query(`insert into ${tables.people} values ($1, $2, $3)`, [d.userId, d.email, d.plan]);
            },
          },
        });
      await store.append('user-r1', [register('r1')]);
      await store.append('user-r2', [register('r2')]);
      const v1 = createProjections(store, { projections: [projection(1)], schema: store.schema, pollMs: 10 });
      await v1.start();
      await v1.waitLive('people', scaled(30_000));
      await waitFor(
        'v1 applied',
        async () =>
          (await store.executor.query(`select 1 from ${quoteIdent(store.schema)}.people`)).length === 2,
      );
      await v1.stop();
      await store.forget('r1');
      const v2 = createProjections(store, { projections: [projection(2)], schema: store.schema, pollMs: 10 });
      await v2.start();
      await v2.waitLive('people', scaled(30_000));
      await v2.stop();
      const rows = await store.executor.query(
        `select user_id, email, plan from ${quoteIdent(store.schema)}.people order by user_id`,
      );
      expect(rows).toEqual([
        { user_id: 'r1', email: null, plan: 'free' },
        { user_id: 'r2', email: 'r2@example.com', plan: 'free' },
      ]);
    });
  },
);
