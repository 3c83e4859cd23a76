import { describe, expect, it } from 'vitest';
import { redactedError, redactText, redactUrl, redactUrls } from '../../src/redact.js';

describe('redactUrl', () => {
  it('masks the password of the user info and keeps the user', () => {
    expect(redactUrl('postgres://app:hunter2@db:5432/app')).toBe('postgres://app:***@db:5432/app');
    expect(redactUrl('redis://:hunter2@127.0.0.1:6379/0')).toBe('redis://:***@127.0.0.1:6379/0');
    expect(redactUrl('postgres://app@db/app')).toBe('postgres://app@db/app');
  });

  it('masks a NATS token given as user name', () => {
    expect(redactUrl('nats://s3cr3ttoken@127.0.0.1:4222')).toBe('nats://***@127.0.0.1:4222');
  });

  it('masks secret-looking query parameters, case-insensitively, and keeps the others', () => {
    const out = redactUrl(
      'postgres://u:pw@h/db?sslmode=require&password=q1&PassWord=q2&sslpassword=q3&sslkey=/k&api_key=q4&' +
        'access_token=q5&token=q6&secret=q7&pwd=q8&auth=q9&application_name=shop',
    );
    expect(out).not.toMatch(/pw@|q\d|\/k/);
    expect(out).toContain('sslmode=require');
    expect(out).toContain('application_name=shop');
    expect(out).toContain('password=***');
  });

  it('masks a percent-encoded parameter name', () => {
    expect(redactUrl('postgres://h/db?pass%77ord=q1')).not.toContain('q1');
  });

  it('masks secrets in the fragment', () => {
    const out = redactUrl('redis://:pw@h:6379/0#access_token=q1&x=1');
    expect(out).not.toMatch(/pw@|q1/);
    expect(out).toContain('x=1');
  });

  it('masks user info and secret pairs of strings URL cannot parse', () => {
    for (const raw of [
      'postgres://u:hunter2@[bad/db?password=q1',
      'postgres://u:hunter2@127.0.0.1:99999/db?password=q1',
      'amqp:/u:hunter2@127.0.0.1:1/?password=q1',
      'redis:u:hunter2@127.0.0.1:1/?password=q1',
      'nats//u:hunter2@127.0.0.1:1?token=q1',
      'u:hunter2@host?pwd=q1',
    ]) {
      const out = redactUrl(raw);
      expect(out, raw).not.toMatch(/hunter2|q1/);
      expect(out, raw).toContain('***');
    }
    expect(redactUrl('not a url at all')).toBe('not a url at all');
  });

  it('redacts each URL of a list', () => {
    expect(redactUrls(['nats://u:a1@h1:4222', 'nats://tok2@h2:4222', 'nats//u:a3@h3', 42])).toBe(
      'nats://u:***@h1:4222, nats://***@h2:4222, ***@h3, (number)',
    );
  });
});

describe('redactText', () => {
  it('redacts every URL and secret pair in a message', () => {
    const out = redactText(
      'failed on nats://u:a1@h1:4222,nats://u:a2@h2:4222 (password=a3; token=a4) at "amqp://u:a5@h3/?key=a6"',
    );
    expect(out).not.toMatch(/a[1-6]/);
    expect(out).toContain('nats://u:***@h1:4222');
  });
});

describe('redactedError', () => {
  it('keeps name, code and frames but drops the fields a driver hangs the URL or AUTH arguments on', () => {
    const source = Object.assign(new TypeError('Invalid URL redis://u:a1@[x'), {
      code: 'ERR_INVALID_URL',
      input: 'redis://u:a1@[x',
      command: { name: 'auth', args: ['u', 'a1'] },
    });
    const copy = redactedError(source);
    expect(copy.name).toBe('TypeError');
    expect((copy as { code?: string }).code).toBe('ERR_INVALID_URL');
    expect(`${copy.message}${copy.stack}${JSON.stringify(copy)}`).not.toContain('a1');
  });
});
