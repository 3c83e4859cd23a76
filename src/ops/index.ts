// `eventlane/ops`: the metrics surface, the admin HTTP API and the operators' service layer.
export { processRegistry, registerDatabaseMetrics, renderMetrics, METRICS_CONTENT_TYPE } from './metrics.js';
export type { DatabaseMetricsOptions } from './metrics.js';
export { readOverview, listConsumers, listProjections, listRelays } from './inventory.js';
export type { Overview, ConsumerStatus, ProjectionStatus, RelayStatus } from './inventory.js';
export { createOpsHandler } from './http/handler.js';
export type { OpsHandler, OpsHandlerOptions } from './http/handler.js';
export type { AdminTokens } from './http/auth.js';
export { startOpsServer, DEFAULT_OPS_PORT, DEFAULT_OPS_HOST } from './server.js';
export type { OpsServer, OpsServerOptions } from './server.js';
export { openApiDocument } from './http/openapi.js';
export { listAudit } from './audit.js';
export type { AuditEntry } from './audit.js';
export {
  listParked,
  showParked,
  retryParked,
  skipParked,
  bulkParked,
  bulkRelayParked,
  retryProjection,
  skipProjection,
  listRelayParked,
  retryRelayParked,
  skipRelayParked,
} from './parked.js';
export type { DisplayOptions, ParkedEventView, BulkResult } from './parked.js';
export { findStreams, findEvent, findEvents } from './browse.js';
export type { StreamSummary } from './browse.js';
export { listContracts } from './contracts.js';
export type { ContractView } from './contracts.js';
export { DASHBOARD_CSP } from './http/dashboard.js';
export { listPartitions } from './partitions.js';
export type { PartitionStatus } from './partitions.js';
