/**
 * Redaction of connection strings and driver messages, so that passwords and tokens never reach an error message,
 * a log line, a metric label or `details`.
 */

const MASK = '***';

/**
 * Query or fragment parameter names whose value is a credential: `password`, `pass`, `pwd`, `token`,
 * `access_token`, `secret`, `client_secret`, `key`, `api_key`, `sslkey`, `sslpassword`, `auth`, `authToken`,
 * `credentials`, `signature`/`sig`… (case-insensitive). Over-redacting a harmless parameter costs nothing.
 */
const SECRET_NAME = /pass|pwd|secret|token|key|auth|credential|signature|^sig$|^jwt$|^nkey$|^seed$/i;

/** URL schemes where a user name without a password is itself a credential (NATS token auth: `nats://TOKEN@host`). */
const TOKEN_USER_SCHEMES = new Set(['nats:', 'tls:', 'ws:', 'wss:']);

/** `name=value` pairs in a query string, a fragment or free text; the value runs to the next separator. */
const PAIR = /([A-Za-z0-9_.%+\-[\]]+)=([^&#;\s,"'<>]*)/g;

function redactPairs(text: string): string {
  return text.replace(PAIR, (pair, name: string, value: string) => {
    let decoded = name;
    try {
      decoded = decodeURIComponent(name);
    } catch {
      // A malformed escape: judge the raw name.
    }
    return SECRET_NAME.test(decoded) && value !== '' ? `${name}=${MASK}` : pair;
  });
}

/** For strings `URL` cannot parse: everything from the scheme to the last `@` is user info, and goes. */
function redactUnparsable(text: string): string {
  const at = text.lastIndexOf('@');
  let out = text;
  if (at >= 0) {
    const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:(\/\/)?/.exec(text);
    const start = scheme ? scheme[0].length : 0;
    out = `${text.slice(0, start)}${MASK}${text.slice(at)}`;
  }
  return redactPairs(out);
}

/**
 * Describes a connection URL without its secrets, for error messages and logs: the password of the user info
 * (and a NATS token given as user name), secret-looking query and fragment parameters (`?password=…`, `token`,
 * `sslkey`, …). A string `URL` cannot parse loses everything between its scheme and its last `@`, and its
 * secret-looking `name=value` pairs.
 *
 * @example
 * redactUrl('postgres://app:s3cret@db:5432/app?sslpassword=x') // 'postgres://app:***@db:5432/app?sslpassword=***'
 */
export function redactUrl(url: string): string {
  if (typeof url !== 'string') return `(${typeof url})`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return redactUnparsable(url);
  }
  // `redis:user:pw@host` parses as an opaque path: no host, the credentials sit in the path.
  if (u.host === '' || u.pathname.includes('@')) return redactUnparsable(url);
  if (u.password) u.password = MASK;
  else if (u.username && TOKEN_USER_SCHEMES.has(u.protocol)) u.username = MASK;
  if (u.search) u.search = redactPairs(u.search);
  if (u.hash) u.hash = redactPairs(u.hash);
  const out = u.toString();
  // URL may re-encode what it was given; a last pass makes sure no parameter slipped through.
  return redactPairs(out);
}

/** {@link redactUrl} for each URL of a list (e.g. NATS servers), joined for a message. */
export function redactUrls(urls: readonly unknown[], separator = ', '): string {
  return urls.map((u) => (typeof u === 'string' ? redactUrl(u) : `(${typeof u})`)).join(separator);
}

/** Anything that looks like a URL (`scheme://…`) in free text, e.g. a driver's error message. */
const URL_IN_TEXT = /[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s"'<>,]+/g;

/**
 * Redacts the URLs and secret-looking `name=value` pairs in a free text, such as a driver's error message that
 * eventlane quotes in its own.
 */
export function redactText(text: string): string {
  return redactPairs(text.replace(URL_IN_TEXT, (u) => redactUrl(u)));
}

/** True when WHATWG `URL` (which the bus clients use too) can parse `url`. */
export function parsesAsUrl(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

/**
 * A copy of a driver's error fit to be the `cause` of ours: its message redacted, its name and its system fields
 * (`code`, `errno`, `syscall`, `address`, `port`) kept, and nothing else — drivers hang the URL they were given
 * (`input`) or the AUTH command with its arguments on their errors, which structured loggers would print.
 */
export function redactedError(error: unknown): Error {
  const source = error instanceof Error ? error : undefined;
  const copy = new Error(redactText(source?.message ?? String(error)));
  copy.name = source?.name ?? 'Error';
  if (source) {
    for (const key of ['code', 'errno', 'syscall', 'address', 'port'] as const) {
      const value = (source as unknown as Record<string, unknown>)[key];
      if (typeof value === 'string' || typeof value === 'number') {
        (copy as unknown as Record<string, unknown>)[key] = value;
      }
    }
  }
  const frames = source?.stack?.split('\n').filter((line) => /^\s+at /.test(line)) ?? [];
  copy.stack = [`${copy.name}: ${copy.message}`, ...frames].join('\n');
  return copy;
}
