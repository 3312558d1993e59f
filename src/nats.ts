// `converge/nats`: the NATS backends — JetStream event bus, JetStream KV storage
// and the connection helper. The only entry point that loads `@nats-io/*`.

// events
export { JetStreamEventBus, DeadLetterHeaders, EventPublishError, JetStreamSetupError } from "./events/jetstream-event-bus.js";
export type { JetStreamEventBusOptions, JetStreamEventBusLogger, JetStreamEventBusStats, NakDelay } from "./events/jetstream-event-bus.js";
export { connectNats, redactServers } from "./events/nats-connection.js";
export type { NatsConnectOptions } from "./events/nats-connection.js";

// storage
export { KvStorage } from "./storage/kv-storage.js";
export type { KvStorageOptions, KvStorageLogger, KvStorageStats } from "./storage/kv-storage.js";
export { KvBucketResetError, KvUnavailableError, KvWatchError } from "./storage/kv-errors.js";

// cluster: scale-out over KV leases (controller options `sharding`, `leaderElection`)
export { KvSharding } from "./cluster/kv-sharding.js";
export type { KvShardingOptions, ClusterLogger } from "./cluster/kv-sharding.js";
export { KvLeaderElection } from "./cluster/kv-leader-election.js";
export type { KvLeaderElectionOptions, LeadershipChange } from "./cluster/kv-leader-election.js";
export { DuplicateIdentityError, ClusterStateError, PartitionsMismatchError, DUPLICATE_IDENTITY, CLUSTER_CLOSED, PARTITIONS_MISMATCH } from "./cluster/cluster-errors.js";
