/**
 * The store's side of personal data: appends that encrypt personal fields under each subject's key, and forgetting
 * a subject. The envelope and the keys table are in personal-data.ts.
 */
import { describeValue, InvalidArgumentError } from '../errors.js';
import type { PersonalFields } from '../contracts/types.js';
import type { NewEvent } from '../events/envelope.js';
import {
  appendToStream,
  SubjectKeyChanged,
  type AppendLimits,
  type AppendOptions,
  type AppendResult,
} from './append.js';
import type { Driver, SqlExecutor } from './drivers/driver.js';
import {
  deleteSubjectKey,
  loadOrCreateKeys,
  MAX_SUBJECT_LENGTH,
  sealEvents,
  SubjectKeyCache,
  subjectsOf,
  type SubjectKey,
} from './personal-data.js';

export class SealedAppends {
  readonly #keyCache = new SubjectKeyCache();

  constructor(
    readonly types: Map<string, PersonalFields>,
    private readonly db: Driver,
    private readonly q: string,
    private readonly limits: AppendLimits,
  ) {}

  /**
   * Appends with personal fields encrypted. The subjects' keys come from memory when this store used them before:
   * then the append is one statement, which the database refuses when a key was deleted since (a forget in any
   * process); the keys are then read again and the events sealed anew. Keys not in memory are read or created in
   * the append's transaction (one of its own when the caller did not open one).
   */
  async append(
    executor: SqlExecutor,
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions | undefined,
    ownTransaction: boolean,
  ): Promise<AppendResult> {
    const subjects = subjectsOf(events, this.types);
    if (subjects.length === 0) return appendToStream(executor, this.q, stream, events, options, this.limits);
    for (let attempt = 0; ; attempt++) {
      try {
        const cached = this.#keyCache.get(subjects);
        if (cached !== undefined)
          return await this.#write(executor, stream, events, options, subjects, cached);
        if (!ownTransaction) return await this.#loadAndWrite(executor, stream, events, options, subjects);
        return await this.db.transaction((ex) => this.#loadAndWrite(ex, stream, events, options, subjects));
      } catch (error) {
        if (!(error instanceof SubjectKeyChanged) || attempt >= 2) throw error;
        this.#keyCache.drop(error.subjects);
      }
    }
  }

  async #loadAndWrite(
    ex: SqlExecutor,
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions | undefined,
    subjects: string[],
  ): Promise<AppendResult> {
    const keys = await loadOrCreateKeys(ex, this.q, subjects);
    this.#keyCache.put(keys);
    return this.#write(ex, stream, events, options, subjects, keys);
  }

  #write(
    ex: SqlExecutor,
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions | undefined,
    subjects: string[],
    keys: Map<string, SubjectKey>,
  ): Promise<AppendResult> {
    const keyIds: string[] = [];
    for (const s of subjects) keyIds.push(keys.get(s)!.keyId);
    const sealed = sealEvents(events, this.types, keys);
    return appendToStream(ex, this.q, stream, sealed, options, this.limits, { subjects, keyIds });
  }

  /** Deletes the subject's key (here and in memory): its personal fields read as erased from now on. */
  async forget(subject: string): Promise<{ subject: string; forgotten: boolean }> {
    if (typeof subject !== 'string' || subject.trim() === '' || subject.length > MAX_SUBJECT_LENGTH) {
      throw new InvalidArgumentError(
        `forget takes a subject: a non-empty string of at most ${MAX_SUBJECT_LENGTH} characters (the value of ` +
          `the contracts' personal.subject field), got ${describeValue(subject)}.`,
        { subject: describeValue(subject) },
      );
    }
    this.#keyCache.drop([subject]);
    const forgotten = await deleteSubjectKey(this.db, this.q, subject);
    return { subject, forgotten };
  }
}
