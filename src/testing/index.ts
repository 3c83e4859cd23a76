/**
 * eventlane/testing: given/when/then specifications for deciders (pure), projections (on an embedded store) and
 * reactors (effects recorded by a fake). They work with any test runner: a failed expectation throws an
 * AssertionError whose message says what differs.
 */
export { deciderSpec } from './decider.js';
export type { Decider, DeciderSpec, DeciderGiven, DeciderThen } from './decider.js';
export { projectionSpec } from './projection.js';
export type { ProjectionGiven, ProjectionDb, ProjectionSpecOptions } from './projection.js';
export { reactorSpec } from './reactor.js';
export type { ReactorGiven, RecordedEffect, ReactorSpecOptions } from './reactor.js';
export type { ThrownCheck } from './given.js';
export { idempotencyKey } from '../consumers/effects.js';
