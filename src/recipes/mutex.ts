/**
 * A fair (FIFO) mutual-exclusion lock: the lowest key under the name holds; each waiter watches
 * only its immediate predecessor, so a release wakes exactly one waiter.
 * @module
 */
import type { Backend } from '../backends/contract.js';
import type { InvalidArgumentError } from '../errors.js';
import { checkQueueName } from '../validate.js';
import { observeAcquire } from '../observability/events.js';
import { Hold } from './hold.js';
import { MUTEX_USE } from './kinds.js';
import { type Contender, type ContenderRequest, contend, enteringSignal, exclusiveRule, tryContend } from './queue.js';
import type { AcquireOptions, Lease, TryOptions } from './types.js';
import { TRY_OPTIONS, type WaitScope, waitWithin } from './wait-scope.js';
import { withHold } from './with-hold.js';
import { type QueueStatus, queueStatus } from './status.js';

/** A fair distributed mutex. Get one with `coordinator.mutex(name)`. */
export class Mutex {
  readonly name: string;
  readonly #backend: Backend;
  readonly #request: ContenderRequest;
  /**
   * Makes the hold of an admitted contender. One function per mutex: a closure made per acquire
   * would keep the acquire's wait scope (its options and signal) alive for the whole wait.
   */
  readonly #hold = (admitted: Contender): Hold => new Hold(this.name, admitted);

  /** @internal */
  constructor(backend: Backend, name: string) {
    this.name = checkQueueName(name);
    this.#backend = backend;
    this.#request = { name: this.name, use: MUTEX_USE, prefix: this.name, role: 'lock', value: '', rule: exclusiveRule };
  }

  /**
   * Waits in line and resolves once this contender holds the lock.
   * @throws {@link InvalidArgumentError} at once for bad options (an unknown field, a negative timeoutMs)
   * @throws {@link TimeoutError} after `timeoutMs` (within 250 ms more), its key withdrawn (the removal may complete after the rejection)
   * @throws {@link AbortError} when `signal` aborts, its key withdrawn (the removal may complete after the rejection)
   * @throws {@link SessionLostError} when the session is lost while waiting
   * @throws {@link LeaseLostError} when its key is deleted by someone else while waiting
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails in a way no retry can mend
   */
  acquire(options?: AcquireOptions): Promise<Lease> {
    return waitWithin(`acquire of mutex "${this.name}"`, options, (scope) =>
      observeAcquire(this.#backend.kind, 'mutex', this.name, () => contend(this.#backend, this.#request, scope, this.#hold)),
    );
  }

  /** Who holds and who waits, in queue order, with keys and tokens: a read-only snapshot. */
  status(): Promise<QueueStatus> {
    return queueStatus(this.#backend, this.name, exclusiveRule);
  }

  /**
   * Takes the lock if it is free right now and nobody waits; resolves to undefined otherwise.
   * `options.signal` and `options.timeoutMs` bound the attempt (AbortError, TimeoutError).
   * @throws {@link InvalidArgumentError} at once for bad options (an unknown field, a negative timeoutMs)
   * @throws {@link TimeoutError} / {@link AbortError} when `timeoutMs` / `signal` end the attempt
   * @throws {@link SessionLostError} when the session is lost while waiting
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails in a way no retry can mend
   */
  tryAcquire(options?: TryOptions): Promise<Lease | undefined> {
    return waitWithin(
      `tryAcquire of mutex "${this.name}"`,
      options,
      (scope) => observeAcquire(this.#backend.kind, 'mutex', this.name, () => this.#tryAcquireNow(scope)),
      TRY_OPTIONS,
    );
  }

  #tryAcquireNow(scope: WaitScope): Promise<Lease | undefined> {
    // No AbortController made for a try with no limits, as for an acquire (see enteringSignal).
    return tryContend(this.#backend, this.#request, enteringSignal(this.#backend, scope)).then(this.#holdIfAdmitted);
  }

  readonly #holdIfAdmitted = (admitted: Contender | undefined): Lease | undefined => admitted && new Hold(this.name, admitted);

  /**
   * Runs `fn` while holding the lock and releases it afterwards, also when `fn` throws.
   * @throws {@link InvalidArgumentError} at once for bad options (an unknown field, a negative timeoutMs)
   * @throws {@link TimeoutError} after `timeoutMs` (within 250 ms more), its key withdrawn (the removal may complete after the rejection)
   * @throws {@link AbortError} when `signal` aborts, its key withdrawn (the removal may complete after the rejection)
   * @throws {@link SessionLostError} when the session is lost while waiting
   * @throws {@link LeaseLostError} when its key is deleted by someone else while waiting
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails in a way no retry can mend
   * @throws whatever `fn` throws, after releasing
   */
  withLock<T>(fn: (lease: Lease) => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    return withHold('withLock', fn, () => this.acquire(options));
  }
}
