export { diagnosticsConfigSchema, type DiagnosticsConfig } from './config.js';
export { DiagnosticsService, type DiagnosticsServiceDeps } from './service.js';
export { DiagnosticsMetrics } from './metrics.js';
export type { DiagnosticsLink } from './actions.js';
