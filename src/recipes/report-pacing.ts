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
 * - Flushes are spaced so that reporting takes at most about a fortieth of the process's time,
 *   counted both in wall time and in the process's CPU time: after a flush that took `t`, the next
 *   waits until `SPACING * t` has passed and the process has used `SPACING * t` of CPU, but no
 *   longer than {@link MAX_WAIT_MS} for the CPU (see there). With a short queue a flush takes
 *   microseconds and reports are immediate; with thousands of waiters each getting a report on
 *   every handoff (N^2/2 calls in all) the changes in between are coalesced, so a waiter gets
 *   fewer reports, each with the position at the time of the flush.
 * @module
 */

/**
 * Time (and CPU time) waited after a flush, as a multiple of the time the flush took. With 9 (a
 * tenth), 10,000 waiters on etcd used 1.19x the process's CPU time of the same run without
 * positions, when only wall time was counted. With 19 (a twentieth), 10,000 waiters served on
 * memory spent 5-9 ms in flushes (about 180,000 reports), yet leaving the reports out saved 15-25
 * ms of the main thread's time: the time a flush is measured by leaves out what its walk over
 * thousands of waiters costs the work after it (caches, the collector). 39 counts that too. A
 * waiter's first report is not paced (positions.ts), so a long queue's pace never slows entering.
 */
const SPACING = 39;

/**
 * The longest a flush waits for the process's CPU time to reach its share, in ms. A process
 * serving waiters over a network is idle much of the time (waiting on its server, or on a shared
 * machine for a core), so a share of its wall time was a far larger share of its CPU: 10,000
 * waiters on one etcd coordinator use about half a second of CPU per second while served, and a
 * profile of them put about a tenth of their CPU in flushes. Counted in CPU time the flushes are
 * spaced by that ratio more; the cap keeps a report from waiting longer than this for a process
 * that is nearly idle (a flush of 10,000 waiters takes a few ms, so then a few percent of its
 * time), so a waiter still hears of a change within about a fifth of a second.
 */
const MAX_WAIT_MS = 200;

/**
 * Waits shorter than this (ms) are counted in wall time only. Reading the process's CPU time is a
 * system call (getrusage, 1.4 us on the machine of docs/benchmarks.md), as long as a flush of a
 * short queue, or of a view that found its feed behind and reported nothing: during 1,000
 * handoffs on etcd about 400 of the flushes were such. Their waits are fractions of a ms anyway.
 */
const CPU_COUNTED_FROM_MS = 1;

const due = new Set<() => void>();
let requested = false;
/**
 * When the last flush ended: performance.now() and the process's CPU time (process.cpuUsage, in
 * ms; read only when the wait counts it, see CPU_COUNTED_FROM_MS).
 */
let lastEnd = Number.NEGATIVE_INFINITY;
let lastEndCpu = 0;
/** Time, and CPU time, the next flush waits after the last one's end: SPACING times its length. */
let spacing = 0;

/** The process's CPU time, user and system, in ms. */
function cpuNow(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

const RESOLVED = Promise.resolve();

/**
 * Runs `run` in a microtask. Not Node's queueMicrotask, which makes an async resource (an object,
 * an id and a bound function) per call: the position views ask for one per change to a queue
 * (positions.ts, the check of who is next in line), thousands per second under many waiters.
 */
export function inMicrotask(run: () => void): void {
  void RESOLVED.then(run);
}

/** Calls `flush` in the next flush (once, however many times it is asked for before then). */
export function requestFlush(flush: () => void): void {
  due.add(flush);
  if (requested) return;
  requested = true;
  schedule();
}

/**
 * Runs the flush now if its wait is over, else arms a timer for the rest of it, in whole ms (Node
 * keeps one list of timers per duration: a fractional wait made a new list each time).
 */
function schedule(): void {
  const wait = untilDue();
  if (wait <= 0) inMicrotask(runFlush);
  // Unref'd: a pending report keeps no process alive (the waits themselves do).
  else setTimeout(schedule, Math.ceil(wait)).unref();
}

/**
 * Milliseconds until the next flush may run, as the process's pace so far says; 0 or less: now.
 * The CPU time still owed is waited at the rate the process has used CPU since the last flush,
 * and checked again when the timer fires. Waited as wall time (the least it can take), a process
 * using a fraction of a core re-armed the timer again and again per flush, each time with a
 * getrusage: 10,000 waiters on one ZooKeeper coordinator, idle in the event loop most of the time,
 * armed 2,600 to 3,600 timers for 420 to 710 flushes.
 */
function untilDue(): number {
  const since = performance.now() - lastEnd;
  const wall = spacing - since;
  if (wall > 0) return wall;
  if (spacing < CPU_COUNTED_FROM_MS) return 0;
  const cap = Math.max(spacing, MAX_WAIT_MS) - since;
  if (cap <= 0) return 0;
  const used = cpuNow() - lastEndCpu;
  const owed = spacing - used;
  if (owed <= 0) return 0;
  // since >= spacing >= CPU_COUNTED_FROM_MS here. A rate above one core (other threads' CPU
  // counted) still waits at least the CPU owed, as before.
  const rate = Math.min(used / since, 1);
  return Math.min(rate > 0 ? owed / rate : cap, cap);
}

/**
 * Runs `flush` in a microtask, ahead of the pace, and counts its time as a flush's: for a view
 * whose paced flush found its feed behind (positions.ts), once the feed has caught up. Its turn
 * had come; waiting for the next would let a feed that is often briefly behind (a burst of
 * handoffs) go unreported for as long as the burst lasts.
 */
export function resumeFlush(flush: () => void): void {
  inMicrotask(() => {
    const start = performance.now();
    flush();
    flushed(start, false);
  });
}

function runFlush(): void {
  requested = false;
  const start = performance.now();
  // Flushes asked for while these run (a report's callback changing a queue) go to the next one.
  const flushes = [...due];
  due.clear();
  for (const flush of flushes) flush();
  flushed(start, true);
}

/**
 * Counts a flush that began at `start`: the next waits SPACING times its length from now, or
 * (`paced` false, a resumed flush between paced ones) at least that, keeping a longer wait
 * already owed.
 */
function flushed(start: number, paced: boolean): void {
  const end = performance.now();
  const owed = (end - start) * SPACING;
  if (!paced && lastEnd + spacing > end + owed) return;
  lastEnd = end;
  spacing = owed;
  if (owed >= CPU_COUNTED_FROM_MS) lastEndCpu = cpuNow();
}
