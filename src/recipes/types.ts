/**
 * The public shapes of holds and acquire options, shared by every recipe.
 * @module
 */
import type { GuardedOp as ContractGuardedOp } from '../backends/contract.js';

/** Options of every acquire, campaign, read and write. */
export interface AcquireOptions {
  /** Aborts the wait; the acquire then rejects with an error named `'AbortError'`. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds; the acquire then rejects with an error named `'TimeoutError'`. */
  timeoutMs?: number;
  /**
   * Called when the contender has to wait, with the number of waiters ahead of it (holders not
   * counted: 0 = next in line), and again whenever that number changes.
   */
  onQueued?: (position: number) => void;
}

/** Options of every tryAcquire, tryRead and tryWrite: limits on the one attempt. */
export type TryOptions = Pick<AcquireOptions, 'signal' | 'timeoutMs'>;

/** A hold on a mutex, semaphore permit, read or write lock, or leadership. */
export interface Lease extends AsyncDisposable {
  /** The recipe's name as given. */
  readonly name: string;
  /** The backend key that represents this hold. */
  readonly key: string;
  /**
   * The fencing token: the backend revision at which `key` was created. Strictly increases across
   * successive holders of a mutex, a write lock and leadership. Pass it to whatever the hold
   * protects, which must refuse tokens lower than the highest it has seen.
   */
  readonly token: bigint;
  /**
   * Aborts when the hold ends: lost (session lost, key deleted; reason a `LeaseLostError`) or
   * released (reason a `LeaseReleasedError`).
   */
  readonly signal: AbortSignal;
  /**
   * Ends the hold: removes the key (only if it is still this hold's) and resolves once it is
   * confirmed gone; `signal` then says released. A failed delete is retried; if the removal
   * cannot be confirmed within the session's TTL, the session is ended, which removes the key.
   * Never rejects. Idempotent.
   */
  release(): Promise<void>;
  /**
   * Writes other keys in the same backend only while this hold is valid: all of `ops` commit
   * atomically if and only if this hold's key still exists with this token. Resolves to whether
   * they committed. Keys are names, with the rules of recipe names, under the coordinator's
   * namespace (etcd), chroot (ZooKeeper), schema (PostgreSQL) or prefix (Redis), the same on every
   * backend; read them back with `coord.readKey(name)`. Applied at most once: when the backend's
   * answer is lost, rejects with `OutcomeUnknownError` (read to find out).
   * @throws {@link InvalidArgumentError} at once for ops that are not `{ put, value }` / `{ delete }` objects, or a key that is not a valid name
   * @throws {@link OutcomeUnknownError} when the backend's answer was lost
   * @throws {@link BackendError} when the backend fails before applying anything
   */
  guardedWrite(ops: readonly GuardedOp[]): Promise<boolean>;
  /** Releases the hold (`release()`), for `await using lease = await mutex.acquire()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * One write of {@link Lease.guardedWrite}: `{ put: key, value }` sets a key, `{ delete: key }`
 * deletes one. All ops of one call commit together, and only while the hold is valid. Keys are
 * names (as recipe names: `orders/compacted-through`, no leading `/`) under the coordinator's
 * namespace or chroot, on every backend; `coord.readKey(name)` reads one back.
 *
 * ```ts
 * await lease.guardedWrite([{ put: 'orders/compacted-through', value: '1042' }, { delete: 'orders/lock-note' }]);
 * ```
 */
export type GuardedOp = ContractGuardedOp;

/** Leadership won by `election(name).campaign(value)`. */
export interface Leadership extends Lease {
  /** The value currently published for this leader. */
  readonly value: string;
  /**
   * Publishes a new value for observers.
   * @throws {@link LeaseLostError} if leadership was lost or given up
   * @throws {@link InvalidArgumentError} for a value that is not a string of at most 64 KiB
   * @throws {@link OutcomeUnknownError} when the backend's answer was lost (read `leader()` to find out)
   */
  proclaim(value: string): Promise<void>;
  /** Gives up leadership (same as `release()`). */
  resign(): Promise<void>;
}

/** The current leader of an election, as `leader()` and `observe()` report it. */
export interface LeaderInfo {
  readonly value: string;
  readonly token: bigint;
  readonly key: string;
}
