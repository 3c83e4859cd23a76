// Error text that is written to the database (failure rows of consumers, and any later record of a failure).
// A failure record is what keeps a poison event from being retried forever, so writing it must not fail on the
// error's own text: PostgreSQL's `text` refuses NUL (SQLSTATE 22021), a lone UTF-16 surrogate cannot be encoded,
// and a multi-megabyte message or stack would bloat the row that operators list.

/** The most UTF-8 bytes of an error message that are stored (8 KiB); longer ones are cut and marked. */
export const MAX_ERROR_MESSAGE_BYTES = 8 * 1024;
/** The most UTF-8 bytes of a stack trace that are stored (16 KiB); longer ones are cut and marked. */
export const MAX_ERROR_STACK_BYTES = 16 * 1024;
/** The most UTF-8 bytes of an error code that are stored. */
export const MAX_ERROR_CODE_BYTES = 200;

// C0 controls other than tab, LF and CR; DEL; C1 controls. NUL is the one PostgreSQL refuses; the others are
// escaped so that a stored message shown in a terminal cannot move the cursor or change colours.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escapeControl(ch: string): string {
  const code = ch.charCodeAt(0);
  return code === 0 ? '\\0' : `\\x${code.toString(16).padStart(2, '0')}`;
}

function utf8Length(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
}

/**
 * Makes `text` storable in a PostgreSQL `text` column and at most `maxBytes` UTF-8 bytes long: NUL becomes `\0`,
 * other control characters (except tab and line breaks) `\xNN`, an unpaired surrogate U+FFFD. A cut text ends with
 * `… [cut: N bytes in all]`, within the limit.
 */
export function storableText(text: string, maxBytes: number): string {
  const clean = text.replace(LONE_SURROGATE, '\ufffd').replace(CONTROL, escapeControl);
  const total = Buffer.byteLength(clean, 'utf8');
  if (total <= maxBytes) return clean;
  const marker = `… [cut: ${total} bytes in all]`;
  const budget = Math.max(0, maxBytes - Buffer.byteLength(marker, 'utf8'));
  let bytes = 0;
  let end = 0;
  for (const ch of clean) {
    const size = utf8Length(ch.codePointAt(0)!);
    if (bytes + size > budget) break;
    bytes += size;
    end += ch.length;
  }
  return clean.slice(0, end) + marker;
}

/** What is stored of a failure: message, stack and code, each sanitised and capped. */
export interface StoredErrorText {
  /** Never empty. */
  message: string;
  stack: string | null;
  code: string | null;
}

/** Reads a property without letting a throwing getter or proxy escape. */
function read(value: object, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

function asString(value: unknown): string | null {
  if (typeof value === 'string') return value;
  try {
    // Whatever was thrown: its own toString is the best text there is (it may throw; then there is none).
    // eslint-disable-next-line @typescript-eslint/no-base-to-string
    return value === undefined || value === null ? null : String(value);
  } catch {
    return null;
  }
}

/**
 * The storable text of anything thrown: never throws, whatever the value (an Error with NUL in its message, a
 * throwing getter, a string, an object without `toString`). See `storableText` for what is changed.
 */
export function storedErrorText(error: unknown): StoredErrorText {
  let message: string | null;
  let stack: string | null = null;
  let code: string | null = null;
  if (typeof error === 'object' && error !== null) {
    message = asString(read(error, 'message'));
    stack = asString(read(error, 'stack'));
    const c = read(error, 'code');
    code = typeof c === 'string' ? c : null;
    if (!message) message = asString(error);
  } else {
    message = asString(error);
  }
  return {
    message: storableText(message || 'unknown error (nothing was thrown with it)', MAX_ERROR_MESSAGE_BYTES),
    stack: stack === null ? null : storableText(stack, MAX_ERROR_STACK_BYTES),
    code: code === null ? null : storableText(code, MAX_ERROR_CODE_BYTES),
  };
}

/**
 * The last resort when the database refused even the storable text (a data exception, class 22: e.g. a database
 * whose encoding cannot hold a character): every character outside printable ASCII becomes `\uXXXX`, capped.
 */
export function asciiText(text: string, maxBytes: number): string {
  const escaped = text.replace(
    /[^\x20-\x7e\t\n\r]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return storableText(escaped, maxBytes).replace(/[^\x20-\x7e\t\n\r]/g, '...');
}
