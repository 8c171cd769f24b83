/**
 * `baton-locks/testing`: a test fake that is the real thing. The embedded memory backend runs the
 * same recipes as etcd and ZooKeeper, in-process; this entry point adds what tests need to drive
 * it: {@link ManualClock} (TTLs and keep-alives on a clock the test advances), the backend behind
 * a coordinator ({@link backendOf}) with its fault injection ({@link MemoryFaults}: freeze the
 * link, refuse requests, lose answers; `expireSession()`, `deleteKey()`) and counters
 * (`stats()`), plus the backend contract for adapter authors and the parts every adapter
 * shares: guaranteed removals ({@link GuaranteedRemovals}), own-key watches ({@link OwnKeyWatches})
 * and the connection-state board a backend reports to ({@link HealthBoard}).
 *
 * ```ts
 * import { connect } from 'baton-locks';
 * import { backendOf, ManualClock, type MemoryBackend } from 'baton-locks/testing';
 *
 * const clock = new ManualClock();
 * const coord = await connect({ backend: 'memory', ttl: 3, clock });
 * const lease = await coord.mutex('jobs/nightly').acquire();
 * (backendOf(coord) as MemoryBackend).faults.freeze(); // the link to the store stops answering
 * clock.advance(3000);                                  // past the TTL without a keep-alive
 * lease.signal.aborted;                                 // true: the hold was lost, on time
 * ```
 * @module
 */
export type * from './backends/contract.js';
export { backendOf } from './coordinator.js';
export {
  MemoryBackend,
  ManualClock,
  MemoryFaults,
  LostAnswerError,
  type FaultOutcome,
  type FaultPlan,
  type Clock,
  type MemoryStats,
  type MemoryOptions,
  type MemoryStore,
  type Listener,
} from './backends/memory/index.js';
export type { BackendUrl } from './backends/config-fields.js';
export { SessionLostError } from './errors.js';
export { abortable, raceSignal } from './backends/abortable.js';
export { GuaranteedRemovals, type RemovalHost } from './backends/guaranteed-delete.js';
export { OwnKeyWatches, type StartDeletionWatch } from './backends/own-keys.js';
export { HealthBoard } from './observability/health.js';
