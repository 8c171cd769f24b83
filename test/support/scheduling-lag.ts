/**
 * How late this process ran its timers while a measured step was under way. On a loaded 2-core
 * machine a timer can fire hundreds of milliseconds late; a bound on the library ("rejects within
 * timeoutMs + 250 ms") is about the library, so tests excuse the lag the scheduler added, the way
 * the fault suite's checker does.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

const RESOLUTION_MS = 10;

export interface LagWatch {
  /** Stops watching; the longest delay seen, in ms, beyond the sampling resolution. */
  stop(): number;
}

export function watchSchedulingLag(): LagWatch {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  return {
    stop() {
      histogram.disable();
      return Math.max(0, Math.round(histogram.max / 1e6 - RESOLUTION_MS));
    },
  };
}
