import { HandlerContractError } from '../errors.js';
import { unreadableError } from '../store/personal-data.js';

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 100))}`;
  if (typeof value === 'object') return `an object (${Object.prototype.toString.call(value)})`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return `symbol ${value.description ?? ''}`;
  if (value === undefined) return 'undefined';
  return `${typeof value} ${(value as number | boolean | bigint).toString()}`;
}

/** Anything thrown becomes an Error: a non-Error throw is a contract breach, reported with what was thrown. */
export function asError(thrown: unknown, where: string): Error {
  if (thrown instanceof Error) return thrown;
  return new HandlerContractError(
    `${where} threw ${describe(thrown)}, not an Error. Throw Error objects (new Error('…')) so the stack and message are kept.`,
    { thrown: describe(thrown) },
    thrown,
  );
}

/**
 * Calls a handler and checks its contract: it returns a promise (an `async` function), and rejects only with Errors.
 * A handler that returns anything else is a bug caught here, with a typed error, instead of work that silently
 * escapes the transaction.
 */
export async function callHandler<T>(where: string, fn: () => unknown, event?: object): Promise<T> {
  // An event whose personal data cannot be decrypted fails here, as its handler would: retried, then parked with
  // its stream, while other streams go on.
  const unreadable = event === undefined ? undefined : unreadableError(event);
  if (unreadable !== undefined) throw unreadable;
  let result: unknown;
  try {
    result = fn();
  } catch (thrown) {
    throw asError(thrown, where);
  }
  if (
    typeof result !== 'object' ||
    result === null ||
    typeof (result as { then?: unknown }).then !== 'function'
  ) {
    throw new HandlerContractError(
      `${where} returned ${describe(result)}, not a promise. Make the handler async (or return a promise) so its work can be awaited.`,
      { returned: typeof result },
    );
  }
  try {
    return await (result as PromiseLike<T>);
  } catch (thrown) {
    throw asError(thrown, where);
  }
}
