/**
 * A fair read-write lock: readers and writers queue under one name, keys tagged by role. A reader
 * holds when no writer has a lower key and watches the nearest lower writer; a writer holds when
 * lowest and watches its immediate predecessor. So a waiting writer holds back the readers that
 * come after it, and neither side starves.
 * @module
 */
import type { Backend, QueueEntry } from '../backends/contract.js';
import { checkQueueName } from '../validate.js';
import { observeAcquire } from '../observability/events.js';
import { Hold } from './hold.js';
import { RWLOCK_USE } from './kinds.js';
import { type AdmissionRule, type Contender, type ContenderRequest, contend, enteringSignal, exclusiveRule, tryContend } from './queue.js';
import type { AcquireOptions, Lease, TryOptions } from './types.js';
import { TRY_OPTIONS, type WaitScope, waitWithin } from './wait-scope.js';
import { type QueueStatus, queueStatus } from './status.js';
import { withHold } from './with-hold.js';

/** Keys of any role but `read` exclude readers: writers, and foreign keys whose role is unknown. */
const excludesReaders = (entry: QueueEntry) => entry.role !== 'read';

/** Readers: admitted while no exclusive key is lower; wait for the nearest lower one. */
export const readerRule: AdmissionRule = {
  admits: (entries, index) => !entries.slice(0, index).some(excludesReaders),
  blocker: (entries, index) => entries.slice(0, index).findLast(excludesReaders) as QueueEntry,
  shared: (role) => role === 'read',
};

/** Admission for a mixed queue: each key by the rule of its own role. */
const mixedRule: AdmissionRule = {
  admits: (entries, index) => (entries[index]?.role === 'read' ? readerRule : exclusiveRule).admits(entries, index),
  blocker: (entries, index) => (entries[index]?.role === 'read' ? readerRule : exclusiveRule).blocker(entries, index),
  shared: (role) => role === 'read',
};

/** A fair distributed read-write lock. Get one with `coordinator.readWriteLock(name)`. */
export class ReadWriteLock {
  readonly name: string;
  readonly #backend: Backend;
  readonly #read: ContenderRequest;
  readonly #write: ContenderRequest;
  /** Makes the hold of an admitted contender; one per lock, so no acquire's closure keeps its wait scope alive (see Mutex). */
  readonly #hold = (admitted: Contender): Hold => new Hold(this.name, admitted);

  /** @internal */
  constructor(backend: Backend, name: string) {
    this.name = checkQueueName(name);
    this.#backend = backend;
    this.#read = { name: this.name, use: RWLOCK_USE, prefix: this.name, role: 'read', value: '', rule: mixedRule };
    this.#write = { name: this.name, use: RWLOCK_USE, prefix: this.name, role: 'write', value: '', rule: mixedRule };
  }

  /**
   * Waits for a shared (read) hold.
   * @throws {@link InvalidArgumentError} at once for bad options (an unknown field, a negative timeoutMs)
   * @throws {@link TimeoutError} after `timeoutMs` (within 250 ms more), its key withdrawn (the removal may complete after the rejection)
   * @throws {@link AbortError} when `signal` aborts, its key withdrawn (the removal may complete after the rejection)
   * @throws {@link SessionLostError} when the session is lost while waiting
   * @throws {@link LeaseLostError} when its key is deleted by someone else while waiting
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails in a way no retry can mend
   */
  read(options?: AcquireOptions): Promise<Lease> {
    return waitWithin(`read lock of "${this.name}"`, options, (scope) =>
      observeAcquire(this.#backend.kind, 'read-lock', this.name, () => contend(this.#backend, this.#read, scope, this.#hold)),
    );
  }

  /**
   * Waits for the exclusive (write) hold.
   * @throws {@link InvalidArgumentError} at once for bad options (an unknown field, a negative timeoutMs)
   * @throws {@link TimeoutError} after `timeoutMs` (within 250 ms more), its key withdrawn (the removal may complete after the rejection)
   * @throws {@link AbortError} when `signal` aborts, its key withdrawn (the removal may complete after the rejection)
   * @throws {@link SessionLostError} when the session is lost while waiting
   * @throws {@link LeaseLostError} when its key is deleted by someone else while waiting
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails in a way no retry can mend
   */
  write(options?: AcquireOptions): Promise<Lease> {
    return waitWithin(`write lock of "${this.name}"`, options, (scope) =>
      observeAcquire(this.#backend.kind, 'write-lock', this.name, () => contend(this.#backend, this.#write, scope, this.#hold)),
    );
  }

  /**
   * Runs `fn` while holding a read (shared) lock and releases it afterwards, also when `fn` throws.
   * @throws {@link InvalidArgumentError} at once for bad options (an unknown field, a negative timeoutMs)
   * @throws {@link TimeoutError} after `timeoutMs` (within 250 ms more), its key withdrawn (the removal may complete after the rejection)
   * @throws {@link AbortError} when `signal` aborts, its key withdrawn (the removal may complete after the rejection)
   * @throws {@link SessionLostError} when the session is lost while waiting
   * @throws {@link LeaseLostError} when its key is deleted by someone else while waiting
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails in a way no retry can mend
   * @throws whatever `fn` throws, after releasing
   */
  withReadLock<T>(fn: (lease: Lease) => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    return withHold('withReadLock', fn, () => this.read(options));
  }

  /**
   * Runs `fn` while holding the write (exclusive) lock and releases it afterwards, also when `fn` throws.
   * @throws {@link InvalidArgumentError} at once for bad options (an unknown field, a negative timeoutMs)
   * @throws {@link TimeoutError} after `timeoutMs` (within 250 ms more), its key withdrawn (the removal may complete after the rejection)
   * @throws {@link AbortError} when `signal` aborts, its key withdrawn (the removal may complete after the rejection)
   * @throws {@link SessionLostError} when the session is lost while waiting
   * @throws {@link LeaseLostError} when its key is deleted by someone else while waiting
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails in a way no retry can mend
   * @throws whatever `fn` throws, after releasing
   */
  withWriteLock<T>(fn: (lease: Lease) => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    return withHold('withWriteLock', fn, () => this.write(options));
  }

  /** Who holds (readers or the writer) and who waits, in queue order: a read-only snapshot. */
  status(): Promise<QueueStatus> {
    return queueStatus(this.#backend, this.name, mixedRule);
  }

  /**
   * Takes a read hold if no writer holds or waits; undefined otherwise.
   * @throws {@link InvalidArgumentError} at once for bad options (an unknown field, a negative timeoutMs)
   * @throws {@link TimeoutError} / {@link AbortError} when `timeoutMs` / `signal` end the attempt
   * @throws {@link SessionLostError} when the session is lost while waiting
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails in a way no retry can mend
   */
  tryRead(options?: TryOptions): Promise<Lease | undefined> {
    return waitWithin(
      `tryRead of "${this.name}"`,
      options,
      (scope) => observeAcquire(this.#backend.kind, 'read-lock', this.name, () => this.#tryReadNow(scope)),
      TRY_OPTIONS,
    );
  }

  #tryReadNow(scope: WaitScope): Promise<Lease | undefined> {
    return tryContend(this.#backend, this.#read, enteringSignal(this.#backend, scope)).then(this.#holdIfAdmitted);
  }

  /**
   * Takes the write hold if nobody holds or waits; undefined otherwise.
   * @throws {@link InvalidArgumentError} at once for bad options (an unknown field, a negative timeoutMs)
   * @throws {@link TimeoutError} / {@link AbortError} when `timeoutMs` / `signal` end the attempt
   * @throws {@link SessionLostError} when the session is lost while waiting
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails in a way no retry can mend
   */
  tryWrite(options?: TryOptions): Promise<Lease | undefined> {
    return waitWithin(
      `tryWrite of "${this.name}"`,
      options,
      (scope) => observeAcquire(this.#backend.kind, 'write-lock', this.name, () => this.#tryWriteNow(scope)),
      TRY_OPTIONS,
    );
  }

  #tryWriteNow(scope: WaitScope): Promise<Lease | undefined> {
    return tryContend(this.#backend, this.#write, enteringSignal(this.#backend, scope)).then(this.#holdIfAdmitted);
  }

  // A try with no limits makes no AbortController, as an acquire (see enteringSignal).
  readonly #holdIfAdmitted = (admitted: Contender | undefined): Lease | undefined => admitted && new Hold(this.name, admitted);
}
