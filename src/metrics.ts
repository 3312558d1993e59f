// `converge/metrics`: controller metrics (`new Controller(bus, storage, { metrics })`),
// Prometheus exposition, health, and the HTTP handler serving them.
export { ControllerMetrics, reconcileOutcome, RECONCILE_OUTCOMES, DEFAULT_DURATION_BUCKETS, DEFAULT_BACKOFF_BUCKETS } from "./metrics/metrics.js";
export type { ReconcileOutcome, ControllerGauges, ControllerMetricsOptions, MetricsSnapshot, KindMetrics } from "./metrics/metrics.js";
export { HealthState } from "./metrics/metrics-health.js";
export type { HealthReport } from "./metrics/metrics-health.js";
export { serveMetrics, metricsFetchHandler, MetricsServerError } from "./metrics/metrics-server.js";
export type { ServeMetricsOptions, MetricsServer, MetricsSource, HealthSource, MetricsEndpoints } from "./metrics/metrics-server.js";
export { exposition, PROMETHEUS_CONTENT_TYPE } from "./metrics/metrics-exposition.js";
export type { MetricFamily } from "./metrics/metrics-exposition.js";
