/**
 * How late this process ran while a measured step was under way. On a loaded 2-core machine a
 * process can go unscheduled for hundreds of milliseconds; a bound on the library ("rejects within
 * timeoutMs + 250 ms") is about the library, so tests excuse the time the scheduler did not run
 * this process, measured by the fault suite's stall meter (which also counts a stall still going
 * on when the answer that settles the measured call arrives).
 *
 * A bound that starts at a deadline excuses every stall after that deadline, added up
 * ({@link LagWatch.notRunningMs}), as the fault suite's checker does: under heavy load the
 * rejection can be held up by several stalls in a row, and excusing only the longest one made a
 * rejection that ran 5 ms of its own after the deadline count as an overrun of 300 ms.
 */
import { startStallMeter } from '../faults/stall-meter.mjs';

export interface LagWatch {
  /**
   * How long in all this process did not run between `fromMs` and `toMs` (performance.now()
   * times; `toMs` defaults to now), in ms. The watch keeps running.
   */
  notRunningMs(fromMs: number, toMs?: number): number;
  /** Stops watching; the longest single stall seen since the watch started, in ms. */
  stop(): number;
}

export function watchSchedulingLag(): LagWatch {
  const meter = startStallMeter({ intervalMs: 5 });
  const from = performance.now();
  return {
    notRunningMs(fromMs, toMs) {
      return meter.notRunningMs(Math.max(fromMs, from), toMs);
    },
    stop() {
      const longest = meter.longestStallMs(from);
      meter.stop();
      return longest;
    },
  };
}
