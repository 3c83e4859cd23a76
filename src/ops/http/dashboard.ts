// The web dashboard: static HTML, CSS and browser-ready JavaScript modules from src/ops/dashboard/ (copied beside the
// compiled code by `npm run build`), served at `/` and `/dashboard/<file>` with a strict Content-Security-Policy.
// The files hold no data: the page reads everything through the admin API with the token the operator enters.

import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';

/**
 * Scripts and styles only from this origin (no inline script, no eval), no frames, no plugins, no form posts; data
 * is fetched from the same origin only. Event data is rendered as text, and this policy is the second fence.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};
const FILE = /^[a-z][a-z0-9-]*\.(html|js|css|svg)$/;

/** The dashboard's files by name, read once: a fixed list, so no request path can reach another file. */
function loadFiles(dir: URL): Map<string, { body: string; type: string }> {
  const files = new Map<string, { body: string; type: string }>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return files; // a build without the dashboard serves the API only
  }
  for (const name of names) {
    const match = FILE.exec(name);
    if (match === null) continue;
    files.set(name, {
      body: readFileSync(fileURLToPath(new URL(name, dir)), 'utf8'),
      type: TYPES[match[1]!]!,
    });
  }
  return files;
}

const HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any hono app, whatever its variables
export function mountDashboard(app: Hono<any>): void {
  const files = loadFiles(new URL('../dashboard/', import.meta.url));
  const serve = (name: string) => {
    const file = files.get(name);
    if (file === undefined) return undefined;
    return new Response(file.body, { headers: { ...HEADERS, 'content-type': file.type } });
  };
  app.get('/', (c) => serve('index.html') ?? c.notFound());
  app.get('/dashboard/:file', (c) => serve(c.req.param('file')) ?? c.notFound());
}
