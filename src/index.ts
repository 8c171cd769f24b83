/**
 * Baton: fair distributed locks, semaphores, read-write locks and leader election, with a
 * fencing token on every hold, over etcd, ZooKeeper or an embedded in-process backend.
 *
 * ```ts
 * import { connect } from 'baton-locks';
 * await using coord = await connect(); // BATON_BACKEND, else memory://
 * await coord.mutex('jobs/nightly').withLock(async (lease) => {
 *   await storage.write(data, { fencingToken: lease.token });
 * });
 * ```
 * @module
 */
export { connect, Coordinator, type ConnectOptions } from './coordinator.js';
export type { Config, MemoryConfig, EtcdConfig, ZooKeeperConfig, PostgresConfig, RedisConfig } from './config.js';
export { ENV_VARIABLE, DEFAULT_URL, backendOfScheme } from './config.js';
export { Mutex } from './recipes/mutex.js';
export { Semaphore, type SemaphoreOptions } from './recipes/semaphore.js';
export { ReadWriteLock } from './recipes/rwlock.js';
export { Election, type ObserveOptions } from './recipes/election.js';
export { VersionedValue, type ValueState, type UpdateOptions, type UpdateResult } from './recipes/value.js';
export { Barrier, DoubleBarrier, type DoubleBarrierOptions, type BarrierWaitOptions } from './recipes/barrier.js';
export { MultiLock, type LockPart, type MultiLease, type MultiAcquireOptions } from './recipes/multi-lock.js';
export type { AcquireOptions, TryOptions, Lease, Leadership, LeaderInfo, GuardedOp } from './recipes/types.js';
export type { QueueStatus, QueueMember, DoubleBarrierStatus } from './recipes/status.js';
export { FencingGuard } from './fencing.js';
export { fencedTransaction, type FencedClient, type FencedTransactionOptions } from './postgres.js';
export { serveDashboard, type Dashboard, type DashboardOptions, type DashboardSnapshot, type DashboardName, type DashboardMember, type NameKind } from './dashboard/server.js';
export {
  BatonError,
  ConfigError,
  InvalidArgumentError,
  TimeoutError,
  AbortError,
  SessionLostError,
  LeaseLostError,
  LeaseReleasedError,
  ClosedError,
  BackendError,
  OutcomeUnknownError,
  StaleTokenError,
  ConflictError,
  NameConflictError,
  ContactLostError,
  type BatonErrorCode,
} from './errors.js';
export type { BackendKind, Role } from './backends/contract.js';
export { configureMetrics, type MetricsOptions, type MeterProviderLike, OTHER_NAME } from './observability/metrics.js';
export {
  CHANNELS,
  type AcquireContext,
  type LeaseMessage,
  type SessionMessage,
  type ReconnectMessage,
  type RecipeKind,
  type LossCause,
} from './observability/channels.js';
export type { Health, HealthEvent, ContactState } from './observability/health.js';
