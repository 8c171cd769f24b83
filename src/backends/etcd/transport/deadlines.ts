/**
 * The deadlines of the unary attempts in flight, watched by one timer for the whole process
 * instead of one timer per attempt: armed for the earliest deadline, and left to run when
 * attempts end in time (it then finds nothing due, and is armed for the next one). A call made in
 * a loop thus arms no timer of its own: attempts last a few hundred milliseconds and answer in a
 * few, so one timer covers hundreds of them. Each attempt keeps its own deadline, to the
 * millisecond.
 *
 * A deadline is decided after the answers already received are read, as with
 * {@link timeoutAfterIo}: the due deadlines are collected on the turn after the timer fires
 * (setImmediate runs after the poll phase), so an answer that came in time wins.
 * @module
 */

/** Something with a deadline: `expire` is called once it has passed, unless removed before. */
export interface Expiring {
  /** performance.now() at which it expires. */
  readonly expiresAt: number;
  expire(): void;
}

const live = new Set<Expiring>();
let timer: NodeJS.Timeout | undefined;
let timerAt = Infinity;
let sweeping = false;

/** Watches `item` until {@link forget} or its deadline (then `item.expire()` runs). */
export function watchDeadline(item: Expiring): void {
  live.add(item);
  if (item.expiresAt < timerAt) arm(item.expiresAt);
}

/** Stops watching `item` (it ended in time). The timer is left to run: see the module's note. */
export function forget(item: Expiring): void {
  live.delete(item);
}

function arm(at: number): void {
  if (timer !== undefined) clearTimeout(timer);
  timerAt = at;
  timer = setTimeout(onTimer, Math.max(1, Math.ceil(at - performance.now())));
  // Not referenced: a call in flight keeps the process alive by its own socket.
  timer.unref();
}

function onTimer(): void {
  timer = undefined;
  timerAt = Infinity;
  if (sweeping) return;
  sweeping = true;
  // After the sockets are read: an answer already there settles its attempt first.
  setImmediate(sweep);
}

function sweep(): void {
  sweeping = false;
  const now = performance.now();
  let next = Infinity;
  let due: Expiring[] | undefined;
  for (const item of live) {
    if (item.expiresAt <= now) (due ??= []).push(item);
    else if (item.expiresAt < next) next = item.expiresAt;
  }
  if (due) for (const item of due) live.delete(item);
  if (next < timerAt) arm(next);
  if (due) for (const item of due) item.expire();
}

/** How many deadlines are watched (for tests). */
export function watchedDeadlines(): number {
  return live.size;
}
