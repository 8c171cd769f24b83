/** Types of loop-watchdog.mjs (plain JavaScript, so that a test's child process can run it as is). */
export function startLoopWatchdog(options?: { stuckMs?: number; reportDir?: string }): void;
