/**
 * Many deadlines watched by one timer, instead of one timer each: the timer is armed for the
 * earliest deadline, and left to run when items end in time (it then finds nothing due, and is
 * armed for the next one). Work done in a loop thus arms no timer of its own: requests last a few
 * hundred milliseconds at most and are answered in a few, so one timer covers hundreds of them.
 * Each item keeps its own deadline, to the millisecond. Not referenced: an item in flight keeps
 * the process alive by its own request, and a finished one should not.
 *
 * Used once for the whole process by the etcd transport's unary attempts, and once per session by
 * guaranteed removals (which end all of theirs when the session ends: {@link DeadlineTimer.expireAll}).
 *
 * A deadline is decided after the answers already received are read, as with the etcd
 * transport's `timeoutAfterIo`: the due deadlines are collected on the turn after the timer fires
 * (setImmediate runs after the poll phase). Node runs due timers before it reads the sockets, so
 * after the process was busy past a deadline (a burst of events, a long garbage collection) an
 * answer already waiting would otherwise lose to its own deadline.
 * @module
 */

/** Something with a deadline: `expire` is called once it has passed, unless forgotten before. */
export interface Expiring {
  /** performance.now() at which it expires. */
  readonly expiresAt: number;
  expire(): void;
}

/** A set of {@link Expiring} items watched by one timer. */
export class DeadlineTimer {
  readonly #live = new Set<Expiring>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  /** A sweep is queued for after the I/O of this turn. */
  #sweeping = false;

  /** Watches `item` until {@link forget} or its deadline (then `item.expire()` runs, once). */
  watch(item: Expiring): void {
    this.#live.add(item);
    if (item.expiresAt < this.#timerAt) this.#arm(item.expiresAt);
  }

  /** Stops watching `item` (it ended in time). The timer is left to run: see the module's note. */
  forget(item: Expiring): void {
    this.#live.delete(item);
  }

  /** Expires every item watched, now, and stops the timer (their owner is gone). */
  expireAll(): void {
    const live = [...this.#live];
    this.#live.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    for (const item of live) item.expire();
  }

  /** How many items are watched (for tests). */
  get size(): number {
    return this.#live.size;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    // Rounded up: the event loop's clock is in whole milliseconds, and a timer that fired early
    // would find nothing due.
    this.#timer = setTimeout(this.#onTimer, Math.max(1, Math.ceil(at - performance.now())));
    this.#timer.unref();
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    if (this.#sweeping) return;
    this.#sweeping = true;
    // After the sockets are read: an answer already there settles its item first.
    setImmediate(this.#sweep);
  };

  readonly #sweep = (): void => {
    this.#sweeping = false;
    const now = performance.now();
    let next = Infinity;
    let due: Expiring[] | undefined;
    for (const item of this.#live) {
      if (item.expiresAt <= now) (due ??= []).push(item);
      else if (item.expiresAt < next) next = item.expiresAt;
    }
    if (due) for (const item of due) this.#live.delete(item);
    // Armed before the expiries run: one of them may watch a new item, which arms it again if earlier.
    if (next < this.#timerAt) this.#arm(next);
    if (due) for (const item of due) item.expire();
  };
}
