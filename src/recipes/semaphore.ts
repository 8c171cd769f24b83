/**
 * A fair counting semaphore, after Curator's InterProcessSemaphoreV2: an internal mutex (the
 * gate, `<name>/locks`) and permit keys under `<name>/leases` (Curator's layout and name). Only
 * the gate's holder creates a permit key; with at most N permit keys it leaves the gate and
 * holds, otherwise it alone waits for a permit key's deletion and counts again. Waiters are served
 * in order through the gate, and a release wakes one waiter: the gate's holder.
 * @module
 */
import { raceSignal } from '../backends/abortable.js';
import type { Backend, QueueEntry } from '../backends/contract.js';
import { LeaseLostError, NameConflictError } from '../errors.js';
import { checkQueueName, checkPermits } from '../validate.js';
import { observeAcquire } from '../observability/events.js';
import { Hold } from './hold.js';
import { foreignKind, kindConflict, SEMAPHORE_GATE_USE, SEMAPHORE_PERMITS_USE } from './kinds.js';
import { linkSignals } from './linked-signal.js';
import { type Contender, type ContenderRequest, contend, enqueueWithin, exclusiveRule, explain, throwIfAborted, tryContend, withdraw } from './queue.js';
import type { AcquireOptions, Lease, TryOptions } from './types.js';
import { TRY_OPTIONS, type WaitScope, waitWithin } from './wait-scope.js';
import { type QueueStatus, semaphoreStatus } from './status.js';
import { withHold } from './with-hold.js';

/** Options of `coordinator.semaphore(name, options)`. */
export interface SemaphoreOptions {
  /** How many holders at once: an integer from 1. Every client of one name must agree on it. */
  permits: number;
}

/** A fair distributed counting semaphore. Get one with `coordinator.semaphore(name, { permits })`. */
export class Semaphore {
  readonly name: string;
  readonly permits: number;
  readonly #backend: Backend;
  /** The internal mutex `<name>/locks` that serves permit seekers in order. */
  readonly #gate: ContenderRequest;
  /** Where permit keys live: `<name>/leases`, the layout Curator's InterProcessSemaphoreV2 uses. */
  readonly #permits: string;

  /** @internal */
  constructor(backend: Backend, name: string, options: SemaphoreOptions) {
    this.name = checkQueueName(name);
    this.permits = checkPermits(options?.permits);
    this.#backend = backend;
    this.#gate = { name: this.name, use: SEMAPHORE_GATE_USE, prefix: `${this.name}/locks`, role: 'lock', value: '', rule: exclusiveRule };
    this.#permits = `${this.name}/leases`;
  }

  /**
   * Waits in line for a permit and resolves once this contender holds one.
   * @throws {@link InvalidArgumentError} at once for bad options (an unknown field, a negative timeoutMs)
   * @throws {@link TimeoutError} after `timeoutMs` (within 250 ms more), its key withdrawn (the removal may complete after the rejection)
   * @throws {@link AbortError} when `signal` aborts, its key withdrawn (the removal may complete after the rejection)
   * @throws {@link SessionLostError} when the session is lost while waiting
   * @throws {@link LeaseLostError} when its key is deleted by someone else while waiting
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails in a way no retry can mend
   */
  acquire(options?: AcquireOptions): Promise<Lease> {
    return waitWithin(`acquire of semaphore "${this.name}"`, options, (scope) =>
      observeAcquire(this.#backend.kind, 'semaphore', this.name, () => this.#acquireNow(scope)),
    );
  }

  async #acquireNow(scope: WaitScope): Promise<Lease> {
    // Every contender in the internal queue, its holder included, is waiting for a permit.
    const reportAhead = scope.onQueued && ((position: number) => scope.onQueued?.(position + 1));
    const gate = await contend(this.#backend, this.#gate, { signal: scope.signal, onQueued: reportAhead });
    const leaving: Contender[] = [gate];
    try {
      return await this.#takePermit(gate, scope, leaving);
    } finally {
      // Never throws: a gate whose removal fails is removed in the background (or its session
      // ended), and the permit, if taken, stays held. A permit that will not be held leaves with
      // the gate, in one withdrawal: the rejection waits for at most one confirmation window.
      await withdraw(...leaving);
    }
  }

  /**
   * Runs `fn` while holding a permit and gives it back afterwards, also when `fn` throws.
   * @throws {@link InvalidArgumentError} at once for bad options (an unknown field, a negative timeoutMs)
   * @throws {@link TimeoutError} after `timeoutMs` (within 250 ms more), its key withdrawn (the removal may complete after the rejection)
   * @throws {@link AbortError} when `signal` aborts, its key withdrawn (the removal may complete after the rejection)
   * @throws {@link SessionLostError} when the session is lost while waiting
   * @throws {@link LeaseLostError} when its key is deleted by someone else while waiting
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails in a way no retry can mend
   * @throws whatever `fn` throws, after releasing
   */
  withPermit<T>(fn: (lease: Lease) => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    return withHold('withPermit', fn, () => this.acquire(options));
  }

  /** Who holds permits and who waits, in queue order, with keys and tokens: a read-only snapshot. */
  status(): Promise<QueueStatus> {
    return semaphoreStatus(this.#backend, this.name, this.permits);
  }

  /**
   * Takes a permit if one is free right now and nobody waits; resolves to undefined otherwise.
   * `options.signal` and `options.timeoutMs` bound the attempt (AbortError, TimeoutError).
   * @throws {@link InvalidArgumentError} at once for bad options (an unknown field, a negative timeoutMs)
   * @throws {@link TimeoutError} / {@link AbortError} when `timeoutMs` / `signal` end the attempt
   * @throws {@link SessionLostError} when the session is lost while waiting
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails in a way no retry can mend
   */
  tryAcquire(options?: TryOptions): Promise<Lease | undefined> {
    return waitWithin(
      `tryAcquire of semaphore "${this.name}"`,
      options,
      (scope) => observeAcquire(this.#backend.kind, 'semaphore', this.name, () => this.#tryAcquireNow(scope)),
      TRY_OPTIONS,
    );
  }

  async #tryAcquireNow(scope: WaitScope): Promise<Lease | undefined> {
    const gate = await tryContend(this.#backend, this.#gate, scope.signal);
    if (!gate) return undefined;
    const leaving: Contender[] = [gate];
    try {
      const { permit, entries } = await this.#enterPermits(gate, scope.signal, leaving);
      if (this.#fits(entries, permit.key)) return new Hold(this.name, permit);
      leaving.push(permit);
      return undefined;
    } finally {
      await withdraw(...leaving);
    }
  }

  /**
   * Creates this contender's permit key and waits, as the gate's holder, until it fits. A permit
   * that will not be held is added to `leaving`, which the caller withdraws.
   */
  async #takePermit(gate: Contender, scope: WaitScope, leaving: Contender[]): Promise<Lease> {
    const { permit, entries } = await this.#enterPermits(gate, scope.signal, leaving);
    try {
      if (this.#fits(entries, permit.key)) return new Hold(this.name, permit);
      scope.onQueued?.(0);
      using wait = linkSignals(scope.signal, permit.own.signal);
      for (;;) {
        using round = linkSignals(wait.signal);
        const permits = await raceSignal(this.#backend.watchPrefix(this.#permits, round.signal), round.signal);
        if (this.#fits(permits.current, permit.key)) {
          throwIfAborted(wait.signal);
          return new Hold(this.name, permit);
        }
        await raceSignal(permits.changed, round.signal);
      }
    } catch (error) {
      leaving.push(permit);
      throw explain(error, gate.session);
    }
  }

  /**
   * Creates this contender's permit key, which records the permits it was asked with, and checks
   * the permit keys already there: keys of another recipe kind, or a holder that counts other
   * permits, make it withdraw the key and throw a NameConflictError. Only the gate's holder
   * creates a permit key, and each one was checked against an older one, so all live permit
   * keys agree and reading the oldest suffices. A permit key it refuses is added to `leaving`.
   */
  async #enterPermits(gate: Contender, signal: AbortSignal, leaving: Contender[]): Promise<{ permit: Contender; entries: readonly QueueEntry[] }> {
    const created = await enqueueWithin(gate.session, this.#permits, 'lease', permitsValue(this.permits), signal);
    const permit: Contender = { session: gate.session, key: created.key, revision: created.revision, own: created.own };
    let conflict: NameConflictError | undefined;
    try {
      const other = await foreignKind(this.#backend, SEMAPHORE_PERMITS_USE, created.entries, signal);
      if (other) conflict = kindConflict(SEMAPHORE_PERMITS_USE, this.name, this.#permits, other);
      else conflict = await this.#permitsMismatch(created.entries, permit.key, signal);
    } catch (error) {
      leaving.push(permit);
      throw explain(error, gate.session);
    }
    if (conflict) {
      leaving.push(permit);
      throw conflict;
    }
    return { permit, entries: created.entries };
  }

  /** A NameConflictError if the oldest other permit key (that records a count) counts other permits. */
  async #permitsMismatch(entries: readonly QueueEntry[], own: string, signal: AbortSignal): Promise<NameConflictError | undefined> {
    for (const entry of entries) {
      if (entry.key === own) continue;
      const state = await raceSignal(this.#backend.get(entry.key, signal), signal);
      // Gone since the listing, or written by another client (Curator) without a count: next.
      const theirs = state && permitsOf(state.value);
      if (theirs === undefined) continue;
      if (theirs === this.permits) return undefined;
      return new NameConflictError(
        `semaphore "${this.name}" is in use with ${theirs} permit${theirs === 1 ? '' : 's'} (key ${entry.key}); asked with ${this.permits}. ` +
          'Every client of one semaphore must give the same permits',
      );
    }
    return undefined;
  }

  /** Whether the own permit key is among the first `permits`; throws if it has vanished. */
  #fits(entries: readonly QueueEntry[], key: string): boolean {
    if (!entries.some((entry) => entry.key === key)) throw new LeaseLostError(`${key} was deleted while waiting for a permit`);
    return entries.length <= this.permits;
  }
}

/** The value of a permit key: the permits its holder counts, so that a mismatch can be seen. */
function permitsValue(permits: number): string {
  return JSON.stringify({ permits });
}

/** The permits a permit key's value records, or undefined when it records none (another client's key). */
function permitsOf(value: string): number | undefined {
  if (!value.startsWith('{')) return undefined;
  try {
    const permits: unknown = (JSON.parse(value) as { permits?: unknown }).permits;
    return typeof permits === 'number' ? permits : undefined;
  } catch {
    return undefined;
  }
}
