import { InvalidArgumentError } from '../errors.js';

/**
 * Splits a statement written with PostgreSQL placeholders (`$1`, `$2`, …) into its text and the zero-based index of
 * each parameter, in order, for query builders that take parameters inline (Drizzle's `sql`). eventlane's own
 * statements have no `$n` inside literals, so a plain scan is exact for them.
 */
export function splitPlaceholders(text: string, paramCount: number): (string | number)[] {
  const parts: (string | number)[] = [];
  let last = 0;
  for (const match of text.matchAll(/\$(\d+)/g)) {
    const index = Number(match[1]) - 1;
    if (index < 0 || index >= paramCount) {
      throw new InvalidArgumentError(`Statement refers to $${match[1]} but has ${paramCount} parameters.`);
    }
    parts.push(text.slice(last, match.index), index);
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

/** Refuses what is not an ORM transaction before anything runs, naming what the adapter takes. */
export function checkOrmTransaction(tx: unknown, method: string, adapter: string, takes: string): void {
  if (
    typeof tx !== 'object' ||
    tx === null ||
    typeof (tx as Record<string, unknown>)[method] !== 'function'
  ) {
    throw new InvalidArgumentError(`${adapter} takes ${takes}; got ${tx === null ? 'null' : typeof tx}.`);
  }
}
