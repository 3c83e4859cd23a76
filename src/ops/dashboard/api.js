// The admin API as the dashboard uses it: the token from sessionStorage as a bearer token, JSON errors with their
// stable code, and server-sent events read with fetch (EventSource cannot send an Authorization header).

const KEY = 'eventlane.token';

export const token = {
  get: () => sessionStorage.getItem(KEY) ?? '',
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthorized = () => undefined;
/** Called when the server refuses the token (401): the app goes back to the sign-in form. */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

function headers(body) {
  const out = { authorization: `Bearer ${token.get()}` };
  if (body !== undefined) out['content-type'] = 'application/json';
  return out;
}

async function failure(res) {
  const body = await res.json().catch(() => null);
  const error = new ApiError(
    res.status,
    body?.error?.code ?? `HTTP_${res.status}`,
    body?.error?.message ?? `The server answered ${res.status}.`,
  );
  if (res.status === 401) unauthorized(error);
  return error;
}

/** GET or POST a path under api/ (relative, so the dashboard works wherever the handler is mounted). */
export async function api(path, { method = 'GET', body } = {}) {
  const res = await fetch(`api/${path}`, {
    method,
    headers: headers(body),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw await failure(res);
  return res.json();
}

/** A query string from defined, non-empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

/**
 * Follows api/live: calls `handlers[event](data)` for each server-sent event and `status(state)` with 'live',
 * 'reconnecting' or 'closed'. Reconnects after a dropped connection; returns a function that stops it.
 */
export function live(params, handlers, status = () => undefined) {
  const abort = new AbortController();
  const run = async () => {
    while (!abort.signal.aborted) {
      try {
        const res = await fetch(`api/live${query(params)}`, { headers: headers(), signal: abort.signal });
        if (!res.ok) {
          const error = await failure(res);
          if (res.status === 401 || res.status === 400) {
            status('closed', error);
            return;
          }
          throw error;
        }
        status('live');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            dispatch(buffer.slice(0, end), handlers);
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (error) {
        if (abort.signal.aborted) return;
        status('reconnecting', error);
      }
      if (!abort.signal.aborted) status('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  };
  void run();
  return () => {
    abort.abort();
    status('closed');
  };
}

function dispatch(block, handlers) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  const handler = handlers[event];
  if (handler === undefined || data.length === 0) return;
  handler(JSON.parse(data.join('\n')));
}
