// `npm run build`: copies the dashboard's static files (HTML, CSS, browser-ready JavaScript modules) beside the
// compiled code, where `eventlane serve` reads them (dist/ops/dashboard/).
import { cpSync, rmSync } from 'node:fs';

const from = new URL('../src/ops/dashboard/', import.meta.url);
const to = new URL('../dist/ops/dashboard/', import.meta.url);
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
