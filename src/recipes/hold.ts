/**
 * A granted hold: the {@link Lease} every recipe returns. Watches for its own loss (session lost,
 * own key deleted) and releases with a guarded delete.
 * @module
 */
import type { Backend, GuardedOp, Session } from '../backends/contract.js';
import { InvalidArgumentError, LeaseLostError, LeaseReleasedError } from '../errors.js';
import { describe } from '../validate.js';
import type { Lease } from './types.js';

/** The backend key of a hold and the session that owns it. */
export interface HeldKey {
  readonly session: Session;
  readonly key: string;
  readonly revision: bigint;
}

/** A hold on one key. */
export class Hold implements Lease {
  readonly name: string;
  readonly key: string;
  readonly token: bigint;
  readonly #session: Session;
  readonly #controller = new AbortController();
  #release: Promise<void> | undefined;

  constructor(backend: Backend, name: string, held: HeldKey) {
    this.name = name;
    this.key = held.key;
    this.token = held.revision;
    this.#session = held.session;
    this.#watchForLoss(backend);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Aborts the hold's signal on the first sign of loss: the session's or the key's. */
  #watchForLoss(backend: Backend): void {
    const sessionSignal = this.#session.signal;
    const onSessionLost = () =>
      this.#lose(new LeaseLostError(`lost ${this.name} (${this.key}): the session was lost`, { cause: sessionSignal.reason }));
    if (sessionSignal.aborted) {
      onSessionLost();
      return;
    }
    sessionSignal.addEventListener('abort', onSessionLost, { once: true });
    this.signal.addEventListener('abort', () => sessionSignal.removeEventListener('abort', onSessionLost), { once: true });
    backend.waitForDelete(this.key, this.signal, this.token).then(
      () => this.#lose(new LeaseLostError(`lost ${this.name}: its key ${this.key} was deleted by someone else`)),
      (error) => {
        // The watch ends with the hold (release or loss); any other failure means the hold can
        // no longer be trusted to be watched, which is a loss.
        if (!this.signal.aborted) this.#lose(new LeaseLostError(`lost ${this.name}: watching ${this.key} failed`, { cause: error }));
      },
    );
  }

  #lose(reason: LeaseLostError): void {
    if (!this.signal.aborted) this.#controller.abort(reason);
  }

  /** True once the hold was lost (not merely released). */
  get lost(): boolean {
    return this.signal.aborted && this.signal.reason instanceof LeaseLostError;
  }

  release(): Promise<void> {
    this.#release ??= this.#deleteKey();
    return this.#release;
  }

  async #deleteKey(): Promise<void> {
    const wasLost = this.lost;
    if (!this.signal.aborted) this.#controller.abort(withoutStack(() => new LeaseReleasedError(`released ${this.name} (${this.key})`)));
    try {
      // Even after a client-side loss the key may still exist on the server: delete it if ours.
      await this.#session.deleteIf(this.key, this.token);
    } catch (error) {
      // A lost session's keys vanish with it; only a live session's failure leaves a key behind.
      if (wasLost || this.#session.signal.aborted) return;
      this.#release = undefined;
      throw error;
    }
  }

  async guardedWrite(ops: readonly GuardedOp[]): Promise<boolean> {
    checkGuardedOps(ops);
    if (this.signal.aborted && !this.lost) return false;
    try {
      return await this.#session.guardedWrite(this.key, this.token, ops);
    } catch (error) {
      if (this.lost || this.#session.signal.aborted) return false;
      throw error;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

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
  }
}
