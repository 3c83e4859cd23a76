// `eventlane/ops`: the metrics surface, the admin HTTP API and the operators' service layer.
export { processRegistry, registerDatabaseMetrics, renderMetrics, METRICS_CONTENT_TYPE } from './metrics.js';
export type { DatabaseMetricsOptions } from './metrics.js';
export { readOverview, listConsumers, listProjections, listRelays } from './inventory.js';
export type { Overview, ConsumerStatus, ProjectionStatus, RelayStatus } from './inventory.js';
