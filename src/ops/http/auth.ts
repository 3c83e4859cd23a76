// Bearer tokens of the admin API. Every presented token is hashed and compared with every configured one in
// constant time (equal-length SHA-256 digests through crypto.timingSafeEqual, no early exit), so neither the
// length nor the prefix of a token leaks through response times.

import { createHash, timingSafeEqual } from 'node:crypto';
import { describeValue } from '../../errors.js';
import { InvalidConfigError } from '../../errors.js';

/** One token (its holder is recorded as `admin`), or tokens by holder name: `{ alice: '…', deploy: '…' }`. */
export type AdminTokens = string | Readonly<Record<string, string>>;

/** Tokens shorter than this are refused: a bearer token is a password that never expires. */
export const MIN_TOKEN_LENGTH = 16;
const NAME = /^[A-Za-z0-9_.@-]{1,64}$/;
const BEARER = /^Bearer ([\x21-\x7e]{1,1024})$/;

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Checks the configured tokens and returns a function from an Authorization header to the holder's name. */
export function tokenChecker(tokens: AdminTokens): (authorization: string | undefined) => string | undefined {
  const entries: [string, unknown][] =
    typeof tokens === 'string'
      ? [['admin', tokens]]
      : typeof tokens === 'object' && tokens !== null
        ? Object.entries(tokens)
        : [];
  if (entries.length === 0) {
    throw new InvalidConfigError(
      `The admin API needs a token: set EVENTLANE_ADMIN_TOKEN (or admin.token in the config), got ${describeValue(tokens)}.`,
    );
  }
  const known = entries.map(([name, token]) => {
    if (!NAME.test(name)) {
      throw new InvalidConfigError(
        `An admin token's holder name must be 1–64 letters, digits, '_', '.', '@' or '-', got ${describeValue(name)}.`,
      );
    }
    if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(token)) {
      throw new InvalidConfigError(
        `The admin token of ${name} must be at least ${MIN_TOKEN_LENGTH} printable characters without spaces ` +
          '(e.g. `openssl rand -hex 32`).',
        { holder: name },
      );
    }
    return { name, digest: digest(token) };
  });
  return (authorization) => {
    const match = authorization === undefined ? null : BEARER.exec(authorization);
    // A missing header is compared like a wrong token, so both take the same time.
    const presented = digest(match?.[1] ?? '');
    let holder: string | undefined;
    for (const k of known) {
      if (timingSafeEqual(presented, k.digest) && match !== null) holder ??= k.name;
    }
    return holder;
  };
}
