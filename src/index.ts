// The one public entry point of converge. Named exports only.

// reconcile
export { Controller } from "./reconcile/controller.js";
export type { ControllerOptions, ControllerStats, EnqueueOptions, Isolation, RegisterOptions } from "./reconcile/controller.js";
export { BaseReconciler } from "./reconcile/base-reconciler.js";
export type { Reconciler, Result, ReconcileRequest, ReconcileContext } from "./reconcile/reconciler.js";
export type { ResourceClient } from "./reconcile/resource-client.js";
export { StorageClient } from "./reconcile/storage-client.js";
export { parseControllerOptions, ControllerOptionsSchema, CONTROLLER_OPTION_NAMES } from "./reconcile/controller-options.js";
export { setCondition, findCondition, isConditionTrue } from "./reconcile/conditions.js";
export type { Condition, ConditionStatus, SetConditionOptions } from "./reconcile/conditions.js";
export { TerminalError, ReconcileTimeoutError, WorkerCrashError, ControllerStateError, RegistrationError } from "./reconcile/errors.js";
export { defaultLogger, silentLogger } from "./reconcile/logger.js";
export { ControllerMetrics, reconcileOutcome, RECONCILE_OUTCOMES, DEFAULT_DURATION_BUCKETS, DEFAULT_BACKOFF_BUCKETS } from "./metrics/metrics.js";
export type { ReconcileOutcome, ControllerGauges, ControllerMetricsOptions, MetricsSnapshot, KindMetrics } from "./metrics/metrics.js";
export { HealthState } from "./metrics/metrics-health.js";
export type { HealthReport } from "./metrics/metrics-health.js";
export { serveMetrics, metricsFetchHandler, MetricsServerError } from "./metrics/metrics-server.js";
export type { ServeMetricsOptions, MetricsServer, MetricsSource, HealthSource, MetricsEndpoints } from "./metrics/metrics-server.js";
export { exposition, PROMETHEUS_CONTENT_TYPE } from "./metrics/metrics-exposition.js";
export type { MetricFamily } from "./metrics/metrics-exposition.js";
export type { Logger, LogLevel, DefaultLoggerOptions } from "./reconcile/logger.js";

// queue
export { WorkQueue } from "./queue/work-queue.js";
export type { WorkQueueOptions } from "./queue/work-queue.js";
export { RateLimitedWorkQueue } from "./queue/rate-limited-work-queue.js";
export { HandleQueue } from "./queue/handle-queue.js";
export { DelayScheduler } from "./queue/delay-scheduler.js";
export type { DelaySchedulerOptions } from "./queue/delay-scheduler.js";
export { KeyInterner } from "./queue/key-interner.js";
export { IntRing, RingBuffer } from "./queue/ring-buffer.js";
export type { RateLimiter } from "./queue/rate-limiter.js";
export { ExponentialBackoffRateLimiter } from "./queue/exponential-backoff-rate-limiter.js";
export type { ExponentialBackoffOptions } from "./queue/exponential-backoff-rate-limiter.js";
export { BucketRateLimiter } from "./queue/bucket-rate-limiter.js";
export { MaxOfRateLimiter } from "./queue/max-of-rate-limiter.js";
export { defaultControllerRateLimiter } from "./queue/default-rate-limiter.js";
export { DEFAULT_PRIORITY, LOW_PRIORITY, HIGH_PRIORITY, MAX_PRIORITY } from "./queue/priority.js";
export type { AddOptions } from "./queue/priority.js";

// events
export type { CloudEvent } from "./events/cloud-event.js";
export type { EventBus, EventHandler, Subscription, SubscribeOptions, PublishOptions } from "./events/event-bus.js";
export { InMemoryEventBus } from "./events/in-memory-event-bus.js";
export type { InMemoryEventBusOptions, EventBusStats } from "./events/in-memory-event-bus.js";
export { newResourceEvent } from "./events/resource-event.js";
export type { ResourceEventOptions } from "./events/resource-event.js";
export { compilePattern, matchPattern, InvalidPatternError } from "./events/pattern.js";
export { BusClosedError } from "./events/errors.js";
export { JetStreamEventBus, DeadLetterHeaders, EventPublishError, JetStreamSetupError } from "./events/jetstream-event-bus.js";
export type { JetStreamEventBusOptions, JetStreamEventBusLogger, JetStreamEventBusStats, NakDelay } from "./events/jetstream-event-bus.js";
export { connectNats, redactServers } from "./events/nats-connection.js";
export type { NatsConnectOptions } from "./events/nats-connection.js";

// storage
export type { Storage, StorageChange, SaveOptions, DeleteOptions, ReadOptions, WatchOptions } from "./storage/storage.js";
export type { Resource, ResourceMetadata } from "./storage/resource.js";
export { InMemoryStorage } from "./storage/in-memory-storage.js";
export { ConflictError, StorageClosedError } from "./storage/errors.js";
export { KvStorage } from "./storage/kv-storage.js";
export type { KvStorageOptions, KvStorageLogger, KvStorageStats } from "./storage/kv-storage.js";
export { KvBucketResetError, KvUnavailableError, KvWatchError } from "./storage/kv-errors.js";

// codec
export { ConvergeError, ValidationError } from "./codec/errors.js";
export { assertKind, assertUid, assertEventType } from "./codec/names.js";
export { parseCloudEvent } from "./codec/cloud-event-schema.js";
export { parseResource } from "./codec/resource-schema.js";
export { msgpackCodec, jsonCodec } from "./codec/codec.js";
export type { Codec } from "./codec/codec.js";
export { cloudEventCodec, msgpackCloudEventCodec, jsonCloudEventCodec } from "./codec/cloud-event-codec.js";
export type { CloudEventCodec, CloudEventFormat } from "./codec/cloud-event-codec.js";
