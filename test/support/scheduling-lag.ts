/**
 * How late this process ran while a measured step was under way. On a loaded 2-core machine a
 * process can go unscheduled for hundreds of milliseconds; a bound on the library ("rejects within
 * timeoutMs + 250 ms") is about the library, so tests excuse the longest stall the scheduler added,
 * measured by the fault suite's stall meter (which also counts a stall still going on when the
 * answer that settles the measured call arrives).
 */
import { startStallMeter } from '../faults/stall-meter.mjs';

export interface LagWatch {
  /** Stops watching; the longest stall seen since the watch started, in ms. */
  stop(): number;
}

export function watchSchedulingLag(): LagWatch {
  const meter = startStallMeter({ intervalMs: 5 });
  const from = performance.now();
  return {
    stop() {
      const longest = meter.longestStallMs(from);
      meter.stop();
      return longest;
    },
  };
}
