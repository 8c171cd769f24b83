/**
 * How long a client process of the fault suite did not run its event loop: time it was not
 * scheduled (a loaded machine), or blocked. The checker excuses that time from the acquire bound,
 * as it excuses a SIGSTOP: no library can keep a deadline while its process does not run.
 *
 * A timer ticks every `intervalMs`; a tick later than that marks a stall from when it was due to
 * when it ran. A stall still going on when the meter is read (the tick has not run yet) counts
 * up to the reading: after a stall Node runs I/O callbacks, such as the answer that resolves an
 * acquire, before overdue timers, so a measure that only learns of a stall when its own timer
 * next runs (the event-loop delay histogram) misses exactly the stall that made the answer late.
 */
export function startStallMeter({ intervalMs = 10 } = {}) {
  let lastTick = performance.now();
  /** Stalls since the last reset, as [from, to] in performance.now() time. */
  let stalls = [];
  const openStall = (now) => (now - lastTick > 2 * intervalMs ? [lastTick + intervalMs, now] : undefined);
  /** The part of each stall (the one still going on included) that falls within [fromMs, toMs]. */
  const stallsWithin = (fromMs, toMs) => {
    const open = openStall(toMs);
    return (open ? [...stalls, open] : stalls).map(([a, b]) => Math.max(0, Math.min(b, toMs) - Math.max(a, fromMs)));
  };
  const timer = setInterval(() => {
    const now = performance.now();
    const stall = openStall(now);
    if (stall) stalls.push(stall);
    lastTick = now;
  }, intervalMs);
  // The meter must not keep a process alive.
  timer.unref();
  return {
    /** Forgets the stalls seen so far (each acquire measures its own). */
    reset() {
      stalls = [];
    },
    /** Milliseconds between `fromMs` and `toMs` (performance.now() times) the event loop did not run. */
    notRunningMs(fromMs, toMs = performance.now()) {
      let total = 0;
      for (const ms of stallsWithin(fromMs, toMs)) total += ms;
      return Math.round(total);
    },
    /** The longest single stall between `fromMs` and `toMs`, in milliseconds. */
    longestStallMs(fromMs, toMs = performance.now()) {
      return Math.round(Math.max(0, ...stallsWithin(fromMs, toMs)));
    },
    stop() {
      clearInterval(timer);
    },
  };
}
