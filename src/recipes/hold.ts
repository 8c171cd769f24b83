/**
 * A granted hold: the {@link Lease} every recipe returns. Learns of its loss (session lost, own
 * key deleted) from the own-key watch armed when its key was created, and releases with a
 * guaranteed removal: `release()` resolves, and the signal says "released", only once the key is
 * confirmed gone (or its session ended, which takes the key with it).
 * @module
 */
import type { GuardedOp, OwnKey, Session } from '../backends/contract.js';
import { InvalidArgumentError, LeaseLostError, LeaseReleasedError, OutcomeUnknownError } from '../errors.js';
import { checkName, describe } from '../validate.js';
import { confirmedGone } from './positions.js';
import type { Contender } from './queue.js';
import type { Lease } from './types.js';

/** A hold on one key. */
export class Hold implements Lease {
  readonly name: string;
  readonly key: string;
  readonly token: bigint;
  readonly #session: Session;
  readonly #own: OwnKey;
  /**
   * The signal's controller, made when {@link signal} is first read: a hold released without
   * anyone asking for its signal costs no AbortController and no LeaseReleasedError.
   */
  #controller: AbortController | undefined;
  /** How the hold ended, once it has: a LeaseLostError, or RELEASED (its error is made lazily). */
  #ended: LeaseLostError | typeof RELEASED | undefined;
  #releasing = false;
  #release: Promise<void> | undefined;

  constructor(name: string, contender: Contender) {
    this.name = name;
    this.key = contender.key;
    this.token = contender.revision;
    this.#session = contender.session;
    this.#own = contender.own;
    this.#watchForLoss();
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#ended) this.#controller.abort(this.#reasonOf(this.#ended));
    }
    return this.#controller.signal;
  }

  #reasonOf(ended: LeaseLostError | typeof RELEASED): LeaseLostError | LeaseReleasedError {
    return ended === RELEASED ? withoutStack(() => new LeaseReleasedError(`released ${this.name} (${this.key})`)) : ended;
  }

  /** Ends the hold (lost or released), aborting its signal if anyone made it. */
  #end(how: LeaseLostError | typeof RELEASED): void {
    if (this.#ended) return;
    this.#ended = how;
    this.#controller?.abort(this.#reasonOf(how));
  }

  /** Ends the hold as lost on the first sign of loss, as the own-key watch reports it. */
  #watchForLoss(): void {
    this.#own.onLoss((reason) => {
      // Our own removal deletes the key too: that is the release, not a loss.
      if (this.#releasing) return;
      this.#end(
        reason instanceof LeaseLostError
          ? new LeaseLostError(`lost ${this.name}: its key ${this.key} was deleted by someone else`, { cause: reason.cause })
          : new LeaseLostError(`lost ${this.name} (${this.key}): the session was lost`, { cause: reason }),
      );
    });
  }

  /** True once the hold was lost (not merely released). */
  get lost(): boolean {
    return this.#ended instanceof LeaseLostError;
  }

  release(): Promise<void> {
    this.#release ??= this.#removeKey();
    return this.#release;
  }

  /** A promise chain, not an async function: one promise less on every release. */
  #removeKey(): Promise<void> {
    // Nothing goes through a session known to be lost: its keys vanish with it.
    if (this.#session.signal.aborted) {
      this.#own.dispose();
      return Promise.resolve();
    }
    const wasLost = this.lost;
    this.#releasing = true;
    // The own key's deletion is ours from here on: nothing to watch for.
    this.#own.dispose();
    // Guaranteed: resolves once the key is confirmed gone, or its session ended. Even after a
    // client-side loss (a failed watch) the key may still exist on the server: removed if ours.
    let removing: Promise<void>;
    try {
      removing = this.#session.remove(this.key, this.token);
    } catch (error) {
      return Promise.reject(error);
    }
    return removing.then(() => {
      // Before the caller hears of it: no position report made after this counts the key.
      confirmedGone(this.key, this.token);
      if (!wasLost) this.#end(RELEASED);
    });
  }

  async guardedWrite(ops: readonly GuardedOp[]): Promise<boolean> {
    checkGuardedOps(ops);
    // A hold known to be released or lost writes nothing.
    if (this.#ended || this.#releasing) return false;
    try {
      return await this.#session.guardedWrite(this.key, this.token, ops);
    } catch (error) {
      // At most once, and never a guess: an unknown outcome is reported as such.
      if (error instanceof OutcomeUnknownError) throw error;
      // Any other failure applied nothing: a hold lost meanwhile could not have written.
      if (this.lost || this.#session.signal.aborted) return false;
      throw error;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

/** How a released hold ended (its LeaseReleasedError is built only if its signal is read). */
const RELEASED = Symbol('released');

/**
 * Builds an error without capturing a stack. A release is not a failure, its stack tells nothing,
 * and capturing one on every release was a measurable part of a handoff's cost.
 */
function withoutStack<T>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function checkGuardedOps(ops: unknown): asserts ops is readonly GuardedOp[] {
  const accepted = 'ops must be an array of { put: key, value: string } or { delete: key }';
  if (!Array.isArray(ops)) throw new InvalidArgumentError(`invalid ops ${describe(ops)}: ${accepted}`);
  for (const op of ops as unknown[]) {
    const o = op as Record<string, unknown>;
    const ok =
      typeof o === 'object' &&
      o !== null &&
      ((typeof o.put === 'string' && o.put !== '' && typeof o.value === 'string' && !('delete' in o)) ||
        (typeof o.delete === 'string' && o.delete !== '' && !('put' in o)));
    if (!ok) throw new InvalidArgumentError(`invalid guarded op ${describe(op)}: ${accepted}`);
    // Keys are names under the coordinator's namespace or chroot, as recipe names are.
    checkName(typeof o.put === 'string' ? o.put : o.delete, 'guarded-write key');
  }
}
