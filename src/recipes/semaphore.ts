/**
 * A fair counting semaphore, after Curator's InterProcessSemaphoreV2: an internal mutex
 * `<name>/locks` and lease keys under `<name>/leases`. Only the internal mutex's holder creates a
 * lease; with at most N leases it releases the internal mutex and holds, otherwise it alone waits
 * for a lease deletion and counts again. Waiters are served in order through the internal mutex,
 * and a release wakes one waiter: the internal mutex's holder.
 * @module
 */
import type { Backend, QueueEntry } from '../backends/contract.js';
import { LeaseLostError } from '../errors.js';
import { checkName, checkPermits } from '../validate.js';
import { Hold, type HeldKey } from './hold.js';
import { linkSignals } from './linked-signal.js';
import { type ContenderRequest, contend, exclusiveRule, tryContend, withdraw } from './queue.js';
import type { AcquireOptions, Lease } from './types.js';
import { openWaitScope, type WaitScope } from './wait-scope.js';
import { type QueueStatus, semaphoreStatus } from './status.js';

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
  readonly #locks: ContenderRequest;
  readonly #leases: string;

  /** @internal */
  constructor(backend: Backend, name: string, options: SemaphoreOptions) {
    this.name = checkName(name);
    this.permits = checkPermits(options?.permits);
    this.#backend = backend;
    this.#locks = { prefix: `${this.name}/locks`, role: 'lock', value: '', rule: exclusiveRule };
    this.#leases = `${this.name}/leases`;
  }

  /** Waits in line for a permit and resolves once this contender holds one. */
  async acquire(options?: AcquireOptions): Promise<Lease> {
    using scope = openWaitScope(`acquire of semaphore "${this.name}"`, options);
    // Every contender in the internal queue, its holder included, is waiting for a permit.
    const reportAhead = scope.onQueued && ((position: number) => scope.onQueued?.(position + 1));
    const gate = await contend(this.#backend, this.#locks, { signal: scope.signal, onQueued: reportAhead });
    try {
      return await this.#takeLease(gate, scope);
    } finally {
      await withdraw(gate);
    }
  }

  /** Who holds permits and who waits, in queue order, with keys and tokens: a read-only snapshot. */
  status(): Promise<QueueStatus> {
    return semaphoreStatus(this.#backend, this.name, this.permits);
  }

  /** Takes a permit if one is free right now and nobody waits; resolves to undefined otherwise. */
  async tryAcquire(): Promise<Lease | undefined> {
    const gate = await tryContend(this.#backend, this.#locks);
    if (!gate) return undefined;
    try {
      const lease = await gate.session.enqueue(this.#leases, 'lease', '');
      const held: HeldKey = { session: gate.session, key: lease.key, revision: lease.revision };
      if (this.#fits(lease.entries, held.key)) return new Hold(this.#backend, this.name, held);
      await withdraw(held);
      return undefined;
    } finally {
      await withdraw(gate);
    }
  }

  /** Creates this contender's lease and waits, as the internal mutex's holder, until it fits. */
  async #takeLease(gate: HeldKey, scope: WaitScope): Promise<Lease> {
    const created = await gate.session.enqueue(this.#leases, 'lease', '');
    const held: HeldKey = { session: gate.session, key: created.key, revision: created.revision };
    using wait = linkSignals(scope.signal, gate.session.signal);
    try {
      if (this.#fits(created.entries, held.key)) return new Hold(this.#backend, this.name, held);
      scope.onQueued?.(0);
      for (;;) {
        using round = linkSignals(wait.signal);
        const leases = await this.#backend.watchPrefix(this.#leases, round.signal);
        if (this.#fits(leases.current, held.key)) return new Hold(this.#backend, this.name, held);
        await leases.changed;
      }
    } catch (error) {
      await withdraw(held).catch(() => {});
      throw gate.session.signal.aborted ? gate.session.signal.reason : error;
    }
  }

  /** Whether the own lease is among the first `permits` leases; throws if it has vanished. */
  #fits(entries: readonly QueueEntry[], key: string): boolean {
    if (!entries.some((entry) => entry.key === key)) throw new LeaseLostError(`${key} was deleted while waiting for a permit`);
    return entries.length <= this.permits;
  }
}
