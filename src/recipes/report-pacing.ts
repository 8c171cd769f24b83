/**
 * When queue positions are delivered. A change to a queue does not call every waiter behind it at
 * once: the position views (positions.ts) mark what changed and ask for a flush here, and one
 * flush, process-wide, tells each waiter whose position changed its newest position, once.
 *
 * A view fed over a network lags the server. It reports only while its feed says it is at or
 * after every write this process has seen confirmed (Backend.followPrefix: `behind` /
 * `caughtUp`), so a report made on a timer never shows a state older than a release already
 * resolved in this process; a flush that finds a view behind leaves its waiters marked until it
 * has caught up.
 *
 * - A flush runs after the current synchronous work (a microtask), so a batch of changes that
 *   arrives together (a session's keys revoked at one revision, a watch response carrying several
 *   events) is reported once, as its end state: no waiter is told a position that was already
 *   out of date when it was told.
 * - Flushes are spaced so that reporting takes at most about a twentieth of the process's time:
 *   after a flush that took `t`, the next waits until `SPACING * t` has passed. With a short queue a
 *   flush takes microseconds and reports are immediate; with thousands of waiters each getting a
 *   report on every handoff (N^2/2 calls in all) the changes in between are coalesced, so a waiter
 *   gets fewer reports, each with the position at the time of the flush.
 * @module
 */

/**
 * Time waited after a flush, as a multiple of the time the flush took. With 9 (a tenth), 10,000
 * waiters on etcd used 1.19x the process's CPU time of the same run without positions: the
 * budget is counted in wall time, and a process waiting on its server spends a larger share of
 * its CPU on reports than of its time. A flush of 10,000 waiters takes a few milliseconds, so a
 * waiter still hears of a change within a tenth of a second.
 */
const SPACING = 19;

const due = new Set<() => void>();
let requested = false;
/** performance.now() before which no flush runs (see SPACING). */
let readyAt = 0;

/** Calls `flush` in the next flush (once, however many times it is asked for before then). */
export function requestFlush(flush: () => void): void {
  due.add(flush);
  if (requested) return;
  requested = true;
  const wait = readyAt - performance.now();
  if (wait <= 0) queueMicrotask(runFlush);
  // Unref'd: a pending report keeps no process alive (the waits themselves do).
  else setTimeout(runFlush, wait).unref();
}

/**
 * Runs `flush` in a microtask, ahead of the pace, and counts its time as a flush's: for a view
 * whose paced flush found its feed behind (positions.ts), once the feed has caught up. Its turn
 * had come; waiting for the next would let a feed that is often briefly behind (a burst of
 * handoffs) go unreported for as long as the burst lasts.
 */
export function resumeFlush(flush: () => void): void {
  queueMicrotask(() => {
    const start = performance.now();
    flush();
    const end = performance.now();
    readyAt = Math.max(readyAt, end + (end - start) * SPACING);
  });
}

function runFlush(): void {
  requested = false;
  const start = performance.now();
  // Flushes asked for while these run (a report's callback changing a queue) go to the next one.
  const flushes = [...due];
  due.clear();
  for (const flush of flushes) flush();
  const end = performance.now();
  readyAt = end + (end - start) * SPACING;
}
