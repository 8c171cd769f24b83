/** Types of stall-meter.mjs (plain JavaScript, so that the client processes run it as is). */
export interface StallMeter {
  reset(): void;
  notRunningMs(fromMs: number, toMs?: number): number;
  longestStallMs(fromMs: number, toMs?: number): number;
  stop(): void;
}
export function startStallMeter(options?: { intervalMs?: number }): StallMeter;
