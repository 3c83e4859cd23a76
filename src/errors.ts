/**
 * The error hierarchy of eventlane, and the one module to import it from.
 *
 * The codes are in `errors/codes.ts`, the base class and the guards (`isEventlaneError(e, 'EVENTLANE_…')`) in
 * `errors/base.ts`, and the errors of each area in a file of their own under `errors/`.
 */

export * from './errors/codes.js';
export * from './errors/base.js';
export * from './errors/store.js';
export * from './errors/contracts.js';
export * from './errors/consumers.js';
export * from './errors/bus.js';
export * from './errors/relay.js';
export * from './errors/projections.js';
export * from './errors/replay.js';
export * from './errors/ops.js';
export * from './errors/commands.js';
export * from './errors/tracing.js';
export * from './errors/retention.js';
export * from './errors/archive.js';
