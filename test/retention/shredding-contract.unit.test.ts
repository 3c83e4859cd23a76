/**
 * The `personal` option of defineEvent: checked at run time (typed errors) and at compile time (the `@ts-expect-error`
 * lines fail `tsc --noEmit` when the error they expect is gone).
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createEventStore,
  defineEvent,
  ErrorCodes,
  isEventlaneError,
  PERSONAL_MARK,
} from '../../src/index.js';

const versions = { 1: z.object({ userId: z.string(), email: z.string(), name: z.string().optional() }) };

function refusal(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected defineEvent to refuse');
}

describe('defineEvent personal', () => {
  it('keeps a valid declaration on the contract', () => {
    const c = defineEvent({
      type: 'user.registered',
      owner: 'accounts',
      versions,
      personal: { subject: 'userId', fields: ['email', 'name'] },
    });
    expect(c.personal).toEqual({ subject: 'userId', fields: ['email', 'name'] });
    expect(defineEvent({ type: 'user.seen', owner: 'accounts', versions }).personal).toBeUndefined();
  });

  it('refuses bad declarations with a typed error that says what is wrong', () => {
    const cases: [unknown, string][] = [
      [{ subject: 'userId', fields: [] }, 'at least one'],
      [{ subject: 'userId', fields: ['userId'] }, 'subject stays in clear'],
      [{ subject: 'userId', fields: ['email', 'email'] }, 'twice'],
      [{ subject: '', fields: ['email'] }, 'personal.subject'],
      [{ subject: 'userId', fields: ['a.b'] }, 'not a field name'],
      [{ subject: 'userId', fields: ['email'], extra: 1 }, 'unknown key'],
      ['email', 'personal must be'],
    ];
    for (const [personal, text] of cases) {
      const error = refusal(() =>
        defineEvent({ type: 'user.registered', owner: 'accounts', versions, personal: personal as never }),
      );
      expect(isEventlaneError(error, ErrorCodes.INVALID_CONTRACT)).toBe(true);
      expect((error as Error).message).toContain(text);
    }
  });

  it('types guide the field names', () => {
    defineEvent({
      type: 'user.registered',
      owner: 'accounts',
      versions,
      // @ts-expect-error: 'phone' is not a field of the data
      personal: { subject: 'userId', fields: ['phone'] },
    });
    defineEvent({
      type: 'user.registered',
      owner: 'accounts',
      versions,
      // @ts-expect-error: the subject must be a field of the data
      personal: { subject: 'accountId', fields: ['email'] },
    });
  });

  it('the embedded store seals and reveals too, and a stored mark with a bad shape reads as erased', async () => {
    const c = defineEvent({
      type: 'user.registered',
      owner: 'accounts',
      versions,
      personal: { subject: 'userId', fields: ['email'] },
    });
    const store = await createEventStore({ events: [c] });
    try {
      await store.append('user-1', [c.create({ userId: '1', email: 'one@example.com' })]);
      const [raw] = await store.executor.query<{
        data: { email?: string };
        metadata: Record<string, unknown>;
      }>(`select data, metadata from ${store.schema}.events`);
      expect(raw!.data).toEqual({ userId: '1' });
      expect(raw!.metadata[PERSONAL_MARK]).toMatchObject({
        subject: '1',
        fields: ['email'],
        sealed: expect.stringMatching(/^elenc2:/),
      });
      expect((await store.readStream('user-1'))[0]!.data).toEqual({ userId: '1', email: 'one@example.com' });
      await store.executor.query(
        `update ${store.schema}.events set metadata = jsonb_build_object('${PERSONAL_MARK}', 'junk')`,
      );
      const [e] = await store.readStream('user-1');
      expect(e!.metadata.erased).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
