/**
 * The own-key watches of one session ({@link OwnKey}), for every adapter: each contender's watch
 * on its own key, plus the session's loss fanned out to all of them from one subscription to the
 * session's signal. Subscribing and unsubscribing a key is O(1) (a Set), and the session signal
 * carries one listener whatever the number of waiters and holds.
 * @module
 */
import { LeaseLostError } from '../errors.js';
import type { OwnKey } from './contract.js';

/**
 * Starts watching a key for deletion: calls `onDeleted` (synchronously where the adapter can)
 * when it is gone, or `onFailed` when it can no longer be watched. Returns the stop function.
 */
export type StartDeletionWatch = (onDeleted: () => void, onFailed: (error: unknown) => void) => () => void;

class OwnKeyWatch implements OwnKey {
  /**
   * Made on the first read of {@link signal} only: most holds are released without anyone asking
   * for it, and an AbortController per acquire was a measurable part of an uncontended one.
   */
  #controller: AbortController | undefined;
  #lost = false;
  #reason: unknown;
  #onLoss: ((reason: unknown) => void) | undefined;
  #stop: () => void = () => {};

  constructor(
    private readonly registry: Set<OwnKeyWatch>,
    readonly key: string,
    /** Called once when the watch ends (disposed or lost): the adapter's bookkeeping of live keys. */
    private onEnd: (() => void) | undefined,
  ) {}

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#lost) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get lost(): boolean {
    return this.#lost;
  }

  onLoss(listener: (reason: unknown) => void): void {
    if (this.#lost) listener(this.#reason);
    else this.#onLoss = listener;
  }

  start(watch: StartDeletionWatch): void {
    const stop = watch(
      () => this.lose(new LeaseLostError(`${this.key} was deleted`)),
      (error) => this.lose(new LeaseLostError(`watching ${this.key} failed`, { cause: error })),
    );
    // The watch may have found the key gone while it was being armed.
    if (this.#lost) stop();
    else this.#stop = stop;
  }

  lose(reason: unknown): void {
    if (this.#lost) return;
    this.#lost = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    const listener = this.#onLoss;
    this.#onLoss = undefined;
    listener?.(reason);
    this.dispose();
  }

  dispose(): void {
    this.#onLoss = undefined;
    this.registry.delete(this);
    const stop = this.#stop;
    this.#stop = () => {};
    stop();
    const onEnd = this.onEnd;
    this.onEnd = undefined;
    onEnd?.();
  }
}

/** Every live own-key watch of one session. */
export class OwnKeyWatches {
  readonly #live = new Set<OwnKeyWatch>();

  constructor(private readonly sessionSignal: AbortSignal) {
    sessionSignal.addEventListener(
      'abort',
      () => {
        const live = [...this.#live];
        this.#live.clear();
        for (const watch of live) watch.lose(sessionSignal.reason);
      },
      { once: true },
    );
  }

  /**
   * Arms a watch on `key` with the adapter's deletion watch; aborted at once on a lost session.
   * `onEnd` is called once when the watch ends, disposed or lost.
   */
  arm(key: string, watch: StartDeletionWatch, onEnd?: () => void): OwnKey {
    const own = new OwnKeyWatch(this.#live, key, onEnd);
    if (this.sessionSignal.aborted) {
      own.lose(this.sessionSignal.reason);
      return own;
    }
    this.#live.add(own);
    own.start(watch);
    return own;
  }

  /** How many own keys are watched (for tests). */
  get size(): number {
    return this.#live.size;
  }
}
