// `converge`: the core and the in-memory backends. Named exports only, the public
// API only (internals such as rings, interners and option parsers are imported by
// path in tests and benches). Nothing here loads an `@nats-io/*` module: NATS is
// `converge/nats` (src/nats.ts); also `converge/queue` and `converge/metrics`.

// reconcile
export { Controller } from "./reconcile/controller.js";
export type { ControllerOptions, ControllerStats, EnqueueOptions, IdleOptions, Isolation, LeaderElection, RegisterOptions } from "./reconcile/controller.js";
export type { Fence, Sharding, ShardingMember, ShardingStats, RevokeReason } from "./cluster/sharding.js";
export type { WorkerResourceLimits } from "./pool/reconcile-pool.js";
export { BaseReconciler } from "./reconcile/base-reconciler.js";
export type { Reconciler, Result, ReconcileRequest, ReconcileContext } from "./reconcile/reconciler.js";
export type { ResourceClient } from "./reconcile/resource-client.js";
export { StorageClient } from "./reconcile/storage-client.js";
export { setCondition, findCondition, isConditionTrue } from "./reconcile/conditions.js";
export type { Condition, ConditionStatus, SetConditionOptions } from "./reconcile/conditions.js";
export { TerminalError, ReconcileTimeoutError, ReconcileInterruptedError, WorkerCrashError, ControllerStateError, RegistrationError } from "./reconcile/errors.js";
export { defaultLogger, silentLogger } from "./reconcile/logger.js";
export type { Logger, LogLevel, DefaultLoggerOptions } from "./reconcile/logger.js";

// what a controller is configured with (the queues themselves are `converge/queue`)
export type { RateLimiter } from "./queue/rate-limiter.js";
export { ExponentialBackoffRateLimiter } from "./queue/exponential-backoff-rate-limiter.js";
export type { ExponentialBackoffOptions } from "./queue/exponential-backoff-rate-limiter.js";
export { BucketRateLimiter } from "./queue/bucket-rate-limiter.js";
export { MaxOfRateLimiter } from "./queue/max-of-rate-limiter.js";
export { defaultControllerRateLimiter } from "./queue/default-rate-limiter.js";
export { DEFAULT_PRIORITY, LOW_PRIORITY, HIGH_PRIORITY, MAX_PRIORITY } from "./queue/priority.js";

// events
export type { CloudEvent } from "./events/cloud-event.js";
export type { EventBus, EventHandler, Subscription, SubscribeOptions, PublishOptions } from "./events/event-bus.js";
export { InMemoryEventBus } from "./events/in-memory-event-bus.js";
export type { InMemoryEventBusOptions, EventBusStats } from "./events/in-memory-event-bus.js";
export { newResourceEvent } from "./events/resource-event.js";
export type { ResourceEventOptions } from "./events/resource-event.js";
export { matchPattern, InvalidPatternError } from "./events/pattern.js";
export { BusClosedError } from "./events/errors.js";

// storage
export type { Storage, StorageChange, SaveOptions, DeleteOptions, ReadOptions, WatchOptions } from "./storage/storage.js";
export type { Resource, ResourceMetadata, WithConditions } from "./storage/resource.js";
export { InMemoryStorage } from "./storage/in-memory-storage.js";
export { ConflictError, StorageClosedError } from "./storage/errors.js";

// codec: validation of what comes from outside
export { ConvergeError, ValidationError } from "./codec/errors.js";
export { assertKind, assertUid, assertEventType } from "./codec/names.js";
export { parseResource } from "./codec/resource-schema.js";
export type { CloudEventFormat } from "./codec/cloud-event-codec.js";
