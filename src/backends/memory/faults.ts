/**
 * Fault injection for the memory backend, so that tests can show what Baton does when a backend
 * hangs or fails, without a server: a coordinator's link to the store can be frozen (requests and
 * notifications wait, keep-alives stop, as with a stopped server), and the next requests can be
 * refused (nothing applied) or lose their answers (applied, but the caller cannot know).
 * @module
 */
import { BackendError } from '../../errors.js';

/** What happens to a faulty request. */
export type FaultOutcome =
  /** Rejected before it reaches the store: nothing is applied. */
  | 'refused'
  /** Applied to the store, then the answer is lost: the caller sees a failure of unknown outcome. */
  | 'lost';

/** A plan for the next requests: `count` requests (of the named operations, or any) fail with `outcome`. */
export interface FaultPlan {
  readonly outcome: FaultOutcome;
  /** How many requests fail (default 1). */
  readonly count?: number;
  /** Which operations, by the names `stats().operations` counts (default: any). */
  readonly operations?: readonly string[];
}

/** An answer that was lost on the way back: the request may have been applied. */
export class LostAnswerError extends BackendError {}

/** One coordinator's link to the memory store, as tests can break it. */
export class MemoryFaults {
  #frozen: { promise: Promise<void>; resume: () => void } | undefined;
  #plans: { outcome: FaultOutcome; left: number; operations: readonly string[] | undefined }[] = [];
  /** How many requests failed by plan, by outcome. */
  readonly injected = { refused: 0, lost: 0 };

  /** Freezes the link: requests and notifications wait until {@link thaw}; keep-alives stop. */
  freeze(): void {
    if (this.#frozen) return;
    let resume!: () => void;
    const promise = new Promise<void>((resolve) => (resume = resolve));
    this.#frozen = { promise, resume };
  }

  /** Lets everything that waited through, in order. */
  thaw(): void {
    const frozen = this.#frozen;
    this.#frozen = undefined;
    frozen?.resume();
  }

  get frozen(): boolean {
    return this.#frozen !== undefined;
  }

  /** Makes the next matching requests fail as planned. */
  failNext(plan: FaultPlan): void {
    const count = plan.count ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be a positive integer, got ${count}`);
    this.#plans.push({ outcome: plan.outcome, left: count, operations: plan.operations });
  }

  /** Drops every plan and thaws. */
  reset(): void {
    this.#plans = [];
    this.thaw();
  }

  /** The outcome planned for this request of `operation`, if any (consumed). */
  take(operation: string): FaultOutcome | undefined {
    const plan = this.#plans.find((p) => p.operations === undefined || p.operations.includes(operation));
    if (!plan) return undefined;
    if (--plan.left === 0) this.#plans.splice(this.#plans.indexOf(plan), 1);
    this.injected[plan.outcome]++;
    return plan.outcome;
  }

  /** Resolves when a request sent now gets through: after a turn of the event loop, or at thaw. */
  async transit(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#frozen) await this.#frozen.promise;
  }

  /** Runs `deliver` now, or at thaw when frozen (notifications wait with the link). */
  notify(deliver: () => void): void {
    if (!this.#frozen) deliver();
    else void this.#frozen.promise.then(deliver);
  }
}
