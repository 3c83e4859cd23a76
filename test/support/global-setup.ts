import type { TestProject } from 'vitest/node';
import { reachable, SERVICES, type ServiceName } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    services: Record<ServiceName, boolean>;
  }
}

const skipped: string[] = [];
let embeddedOnly = false;
let reported = false;

/**
 * Probes every real service once per run. With CI=true an unreachable service fails the run; elsewhere the
 * tests that need it are skipped and the run says so at the end.
 */
export async function setup(project: TestProject): Promise<void> {
  const names = Object.keys(SERVICES) as ServiceName[];
  if (process.env.EVENTLANE_TEST_EMBEDDED_ONLY === '1') {
    // A deliberate run of the unit and embedded (PGlite) suites only, e.g. under another Node.js version.
    project.provide(
      'services',
      Object.fromEntries(names.map((n) => [n, false])) as Record<ServiceName, boolean>,
    );
    embeddedOnly = true;
    return;
  }
  const found = await Promise.all(names.map((n) => reachable(n)));
  const services = Object.fromEntries(names.map((n, i) => [n, found[i]!])) as Record<ServiceName, boolean>;
  const missing = names.filter((n) => !services[n]);
  if (missing.length > 0 && process.env.CI === 'true') {
    throw new Error(
      `CI=true and these services are unreachable: ${missing.map((n) => `${n} (${SERVICES[n].url})`).join(', ')}. ` +
        'Start them (see .ci/run) — integration tests never skip silently in CI.',
    );
  }
  for (const n of missing) skipped.push(`${n} at ${SERVICES[n].url}`);
  project.provide('services', services);
}

export function teardown(): void {
  // Each project runs this teardown; say it once.
  if (reported || process.env.EVENTLANE_TEST_REPORTED) return;
  reported = true;
  process.env.EVENTLANE_TEST_REPORTED = '1';
  if (embeddedOnly) {
    console.warn(
      '\n[eventlane] EVENTLANE_TEST_EMBEDDED_ONLY=1: ran the unit and embedded (PGlite) tests only; every test that needs PostgreSQL, NATS, RabbitMQ or Redis was skipped.\n',
    );
  } else if (skipped.length > 0) {
    console.warn(
      `\n[eventlane] Skipped the tests that need: ${[...new Set(skipped)].join(', ')} (unreachable). ` +
        'The embedded-store tests ran. Set CI=true to make unreachable services fail the run.\n',
    );
  }
}
