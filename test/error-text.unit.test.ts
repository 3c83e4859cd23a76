import { describe, expect, it } from 'vitest';
import {
  asciiText,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_ERROR_STACK_BYTES,
  storableText,
  storedErrorText,
} from '../src/events/error-text.js';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

describe('error text written to the database', () => {
  it.each<[string, string, string]>([
    ['NUL', 'a\u0000b', 'a\\0b'],
    ['other C0 controls and DEL', 'a\u001b[31mb\u007f', 'a\\x1b[31mb\\x7f'],
    ['a C1 control', 'a\u0085b', 'a\\x85b'],
    ['a lone high surrogate', 'a\ud800b', 'a\ufffdb'],
    ['a lone low surrogate', 'a\udc00b', 'a\ufffdb'],
    ['a valid surrogate pair, tab and line breaks (kept)', 'a😀\tb\r\nc', 'a😀\tb\r\nc'],
  ])('makes %s storable', (_what, input, expected) => {
    expect(storableText(input, 1000)).toBe(expected);
  });

  it('caps at a byte limit, on a character boundary, and says how long it was', () => {
    const long = '€'.repeat(10_000); // 3 bytes each
    const cut = storableText(long, MAX_ERROR_MESSAGE_BYTES);
    expect(bytes(cut)).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_BYTES);
    expect(bytes(cut)).toBeGreaterThan(MAX_ERROR_MESSAGE_BYTES - 40);
    expect(cut).toMatch(/^€+… \[cut: 30000 bytes in all\]$/);
    const emoji = storableText('😀'.repeat(5000), 101);
    expect(emoji).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });

  it('reads anything thrown without throwing itself', () => {
    const error = new Error('bad\u0000message');
    error.stack = `Error: bad\u0000message\n${'    at f (x.js:1:1)\n'.repeat(2000)}`;
    (error as { code?: string }).code = 'X\u0000';
    const text = storedErrorText(error);
    expect(text.message).toBe('bad\\0message');
    expect(text.code).toBe('X\\0');
    expect(bytes(text.stack!)).toBeLessThanOrEqual(MAX_ERROR_STACK_BYTES);
    expect(text.stack).toContain('[cut: ');

    expect(storedErrorText('plain\u0000string')).toEqual({
      message: 'plain\\0string',
      stack: null,
      code: null,
    });
    expect(storedErrorText(undefined).message).toContain('unknown error');
    expect(storedErrorText(Object.create(null)).message).toContain('unknown error');
    const hostile = {
      get message(): string {
        throw new Error('getter');
      },
      toString(): string {
        throw new Error('toString');
      },
    };
    expect(storedErrorText(hostile).message).toContain('unknown error');
    expect(storedErrorText(new Error('')).message).toBe('Error');
  });

  it('has an ASCII-only last resort', () => {
    expect(asciiText('\u00e9\u0000\u{1f600}', 100)).toBe('\\u00e9\\u0000\\ud83d\\ude00');
    expect(asciiText('é'.repeat(1000), 50)).toMatch(/^[\x20-\x7e]+$/);
  });
});
