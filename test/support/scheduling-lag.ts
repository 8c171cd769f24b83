/**
 * How late this process ran while a measured step was under way. On a loaded 2-core machine a
 * process can go unscheduled for hundreds of milliseconds; a bound on the library ("rejects within
 * timeoutMs + 250 ms") is about the library, so tests excuse the lag the scheduler added, the way
 * the fault suite's checker does.
 *
 * A timer ticks every few ms; a late tick marks a stall. A stall still going on when the watch is
 * stopped counts too: after a stall Node runs I/O callbacks (the answer that settles the measured
 * call) before overdue timers, so a measure that learns of a stall only at its next tick (the
 * event-loop delay histogram) misses exactly the stall that made the answer late.
 */
const INTERVAL_MS = 5;

export interface LagWatch {
  /** Stops watching; the longest stall seen, in ms, beyond the tick interval. */
  stop(): number;
}

export function watchSchedulingLag(): LagWatch {
  let lastTick = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - lastTick);
    lastTick = now;
  }, INTERVAL_MS);
  return {
    stop() {
      clearInterval(timer);
      const ongoing = performance.now() - lastTick;
      return Math.max(0, Math.round(Math.max(longest, ongoing) - INTERVAL_MS));
    },
  };
}
