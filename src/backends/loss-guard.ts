/**
 * How long before the server could expire a session the client declares it lost.
 *
 * Every networked backend proves its session alive with answered renewals (keep-alives, heartbeats)
 * and keeps a client-side deadline: (time the last answered renewal was sent) + TTL. The server
 * renewed the session after that moment, so that deadline is the earliest the server could
 * expire it. Declaring the loss exactly then leaves no room: a timer fires late whenever its
 * process does not run at the deadline (a busy event loop, a loaded machine, a short stop), and
 * the client's monotonic clock and the server's clock need not advance at quite the same rate. On
 * a single server that expires sessions to the millisecond (PostgreSQL, Redis), another client
 * can be granted a few milliseconds after the expiry, before the late timer of the old holder
 * has run.
 *
 * So the deadline is moved earlier by a guard: 1% of the TTL for the clocks' rates (the drift
 * allowance the Redlock description uses), plus a fixed allowance for a late timer. A stop longer
 * than the guard, across the deadline, still signals late: that is what fencing tokens are for.
 * @module
 */

/** A timer's lateness the guard absorbs, beyond the clocks' drift. */
const LATE_TIMER_MS = 25;

/** Milliseconds by which a session of `ttlMs` is declared lost before the server could expire it. */
function lossGuardMs(ttlMs: number): number {
  return ttlMs / 100 + LATE_TIMER_MS;
}

/** When (same clock as `proofAt`) a session last proved alive at `proofAt` is declared lost. */
export function lossDeadline(proofAt: number, ttlMs: number): number {
  return proofAt + ttlMs - lossGuardMs(ttlMs);
}
