import type * as OpenTelemetryApi from '@opentelemetry/api';

/**
 * The optional `@opentelemetry/api` peer dependency, loaded once with a dynamic import. When the package is not
 * installed the import fails once, quietly, and every traced call after that costs one check of `otel` before it
 * runs the work as it would without tracing.
 *
 * The store, workers, relays and projection runners call `loadOpenTelemetry()` when they are created or started,
 * so the API is in place before the first append or handler call. The API keeps its registrations (tracer
 * provider, context manager) in a process-wide global, so the copy loaded here sees the ones the application made
 * with its own copy.
 */
export type OpenTelemetry = typeof OpenTelemetryApi;

let otel: OpenTelemetry | undefined;
let loading: Promise<void> | undefined;
let pinned = false;

/** Loads `@opentelemetry/api` when it is installed. Never throws; resolves at once after the first call settled. */
export function loadOpenTelemetry(): Promise<void> {
  loading ??= import('@opentelemetry/api').then(
    (api) => {
      if (!pinned) otel = api;
    },
    () => {
      // Not installed (or not loadable): tracing stays off for the life of the process.
    },
  );
  return loading;
}

/** The loaded API, or `undefined` when it is not installed (or not loaded yet). */
export function openTelemetry(): OpenTelemetry | undefined {
  return otel;
}

/**
 * Tests only: behave as if `@opentelemetry/api` were `api` (`null`: not installed) from now on, whatever
 * `loadOpenTelemetry` finds; `undefined` goes back to the installed package.
 */
export async function useOpenTelemetryForTests(api: OpenTelemetry | null | undefined): Promise<void> {
  if (api === undefined) {
    pinned = false;
    otel = undefined;
    loading = undefined;
    await loadOpenTelemetry();
    return;
  }
  pinned = true;
  otel = api ?? undefined;
}
