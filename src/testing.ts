/**
 * For tests and adapter authors: the backend contract, the backend behind a coordinator, and the
 * memory backend's fault injection and counters. Not needed by applications.
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
