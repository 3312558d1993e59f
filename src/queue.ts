// `converge/queue`: work queues, rate limiters and the delay scheduler, usable
// without a controller. Handle queues, interners and rings stay internal.
export { WorkQueue } from "./queue/work-queue.js";
export type { WorkQueueOptions } from "./queue/work-queue.js";
export { RateLimitedWorkQueue } from "./queue/rate-limited-work-queue.js";
export { DelayScheduler } from "./queue/delay-scheduler.js";
export type { DelaySchedulerOptions } from "./queue/delay-scheduler.js";
export type { RateLimiter } from "./queue/rate-limiter.js";
export { ExponentialBackoffRateLimiter } from "./queue/exponential-backoff-rate-limiter.js";
export type { ExponentialBackoffOptions } from "./queue/exponential-backoff-rate-limiter.js";
export { BucketRateLimiter } from "./queue/bucket-rate-limiter.js";
export { MaxOfRateLimiter } from "./queue/max-of-rate-limiter.js";
export { defaultControllerRateLimiter } from "./queue/default-rate-limiter.js";
export { DEFAULT_PRIORITY, LOW_PRIORITY, HIGH_PRIORITY, MAX_PRIORITY } from "./queue/priority.js";
export type { AddOptions } from "./queue/priority.js";
// Time: the clock queues and limiters read (inject FakeClock in tests).
export { MAX_TIMER_MS, realClock } from "./queue/clock.js";
export type { Clock, ClockTimer } from "./queue/clock.js";
export { FakeClock } from "./queue/fake-clock.js";
export type { FakeClockOptions } from "./queue/fake-clock.js";
