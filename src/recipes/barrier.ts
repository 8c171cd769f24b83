/**
 * Barriers, for steps of distributed training and phases of batch jobs.
 *
 * - {@link Barrier}: one party sets it, any number wait until it is removed (Curator's
 *   DistributedBarrier, kazoo's Barrier: on ZooKeeper the barrier is the node at `<chroot>/<name>`,
 *   so they and Baton share it; elsewhere the plain key `.baton/<name>/.barrier`, plain-keys.ts).
 * - {@link DoubleBarrier}: `members` parties `enter()` and all proceed once the last has arrived;
 *   then each `leave()`s and all proceed once the last has left (Curator's DistributedDoubleBarrier,
 *   kazoo's DoubleBarrier). Members are ephemeral keys in a queue of their own,
 *   `.baton/<name>/.members`, so a member that dies is counted out when its session ends, and no
 *   election or lock of the same name counts them or is counted; a plain flag
 *   (`.baton/<name>/.ready`) records that everyone arrived, so a slow member still passes after
 *   faster ones started leaving.
 * @module
 */
import type { Backend, Enqueued, PlainKeys, QueueEntry } from '../backends/contract.js';
import { InvalidArgumentError } from '../errors.js';
import { checkName, describe } from '../validate.js';
import { barrierKey, changeOrAbort, membersPrefix, plainKeysOf, readyFlagKey } from './plain-keys.js';
import { enqueueWithin, WITHDRAW_WAIT_MS } from './queue.js';
import { type DoubleBarrierStatus, doubleBarrierStatus } from './status.js';
import { openWaitScope } from './wait-scope.js';

/** Options of the waiting calls: the same limits as an acquire's. */
export interface BarrierWaitOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** A barrier: set, waited on, removed. Get one with `coordinator.barrier(name)`. */
export class Barrier {
  readonly name: string;
  readonly #backend: Backend;

  /** @internal */
  constructor(backend: Backend, name: string) {
    this.name = checkName(name);
    this.#backend = backend;
  }

  /** The backend's plain keys and the barrier's key among them (plain-keys.ts). */
  get #keys(): { keys: PlainKeys; key: string } {
    const keys = plainKeysOf(this.#backend, 'barriers');
    return { keys, key: barrierKey(keys, this.name) };
  }

  /** Sets the barrier (waiters block). Resolves to false if it was set already. */
  async set(options?: BarrierWaitOptions): Promise<boolean> {
    using scope = openWaitScope(`set of barrier "${this.name}"`, options);
    const { keys, key } = this.#keys;
    return (await keys.write(key, undefined, '', scope.signal)) !== undefined;
  }

  /** Removes the barrier: every waiter proceeds. Resolves to false if it was not set. */
  async remove(options?: BarrierWaitOptions): Promise<boolean> {
    using scope = openWaitScope(`removal of barrier "${this.name}"`, options);
    const { keys, key } = this.#keys;
    return keys.delete(key, undefined, scope.signal);
  }

  /** Whether the barrier is set now. */
  async isSet(options?: BarrierWaitOptions): Promise<boolean> {
    using scope = openWaitScope(`read of barrier "${this.name}"`, options);
    const { keys, key } = this.#keys;
    return (await keys.read(key, scope.signal)) !== undefined;
  }

  /** Resolves once the barrier is not set: at once if it is not, else when it is removed. */
  async wait(options?: BarrierWaitOptions): Promise<void> {
    using scope = openWaitScope(`wait on barrier "${this.name}"`, options);
    const { keys, key } = this.#keys;
    for (;;) {
      const watched = await keys.watch(key, scope.signal);
      if (watched.current === undefined) return;
      await changeOrAbort(watched.changed, scope.signal);
    }
  }
}

/** Options of `coordinator.doubleBarrier(name, options)`. */
export interface DoubleBarrierOptions {
  /** How many members must enter before any proceeds: an integer from 1 to 10,000. */
  members: number;
}

/** A double barrier. Get one with `coordinator.doubleBarrier(name, { members })`. */
export class DoubleBarrier {
  readonly name: string;
  readonly members: number;
  readonly #backend: Backend;
  readonly #ready: string;
  /** The members' queue, apart from an election's or lock's of the same name (plain-keys.ts). */
  readonly #members: string;
  #entered: Enqueued | undefined;

  /** @internal */
  constructor(backend: Backend, name: string, options: DoubleBarrierOptions) {
    // Any name, `pool/locks` too: the members queue under `.baton/<name>/.members`, never in a
    // semaphore's internal queues.
    this.name = checkName(name);
    const members = options?.members;
    if (typeof members !== 'number' || !Number.isInteger(members) || members < 1 || members > 10_000) {
      throw new InvalidArgumentError(`invalid members ${describe(members)}: members must be an integer from 1 to 10000`);
    }
    this.members = members;
    this.#backend = backend;
    this.#ready = readyFlagKey(this.name);
    this.#members = membersPrefix(this.name);
  }

  /**
   * Joins and waits until `members` have joined (or the barrier was already complete). On timeout
   * or abort the member leaves again before the call rejects.
   */
  async enter(options?: BarrierWaitOptions): Promise<void> {
    if (this.#entered) throw new InvalidArgumentError(`already entered double barrier "${this.name}": leave() first`);
    using scope = openWaitScope(`enter of double barrier "${this.name}"`, options);
    const keys = plainKeysOf(this.#backend, 'double barriers');
    const session = await this.#backend.session(scope.signal);
    const entered = await enqueueWithin(session, this.#members, 'latch', '', scope.signal);
    try {
      for (;;) {
        // The flag's watch is armed before the count is read, so an arrival that completes the
        // barrier between the two is seen either way.
        const ready = await keys.watch(this.#ready, scope.signal);
        if (ready.current !== undefined) break;
        const queue = await this.#backend.watchPrefix(this.#members, scope.signal);
        if (entered.own.signal.aborted) throw entered.own.signal.reason;
        if (queue.current.length >= this.members) {
          await keys.write(this.#ready, undefined, '', scope.signal);
          break;
        }
        await changeOrAbort(Promise.race([ready.changed, queue.changed]), scope.signal);
      }
      this.#entered = entered;
    } catch (error) {
      entered.own.dispose();
      // The removal carries on past this short wait (guaranteed); the caller's limit is what counts.
      await session.remove(entered.key, entered.revision, AbortSignal.timeout(WITHDRAW_WAIT_MS)).catch(() => {});
      throw error;
    }
  }

  /**
   * Who is in the barrier, in the order they entered, and whether all have arrived: a read-only
   * snapshot (no session, no key), as the other recipes' `status()`. `members` plays no part.
   */
  async status(options?: BarrierWaitOptions): Promise<DoubleBarrierStatus> {
    using scope = openWaitScope(`status of double barrier "${this.name}"`, options);
    return doubleBarrierStatus(this.#backend, this.name, scope.signal);
  }

  /**
   * Leaves and waits until every member has left. The lowest member leaves last, after the
   * others, and clears the ready flag on its way out, so the barrier can be used again.
   */
  async leave(options?: BarrierWaitOptions): Promise<void> {
    const entered = this.#entered;
    if (!entered) throw new InvalidArgumentError(`not in double barrier "${this.name}": enter() first`);
    using scope = openWaitScope(`leave of double barrier "${this.name}"`, options);
    const keys = plainKeysOf(this.#backend, 'double barriers');
    const session = await this.#backend.session(scope.signal);
    let removed = false;
    const removeOwn = async () => {
      if (removed) return;
      removed = true;
      entered.own.dispose();
      await session.remove(entered.key, entered.revision, scope.signal);
    };
    for (;;) {
      const entries = await this.#backend.list(this.#members, scope.signal);
      const others = entries.filter((entry) => entry.key !== entered.key);
      if (others.length === 0) {
        // The last one out: the barrier is over, and can be entered again.
        await keys.delete(this.#ready, undefined, scope.signal);
        await removeOwn();
        break;
      }
      const lowest = entries[0] as QueueEntry;
      if (lowest.key === entered.key) {
        const highest = entries[entries.length - 1] as QueueEntry;
        await this.#backend.waitForBlocker(highest.key, highest.revision, scope.signal);
      } else {
        await removeOwn();
        await this.#backend.waitForBlocker(lowest.key, lowest.revision, scope.signal);
        break;
      }
    }
    this.#entered = undefined;
  }
}
