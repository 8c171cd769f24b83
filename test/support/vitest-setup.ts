/**
 * Runs in every test file's process before its tests: a worker whose event loop stops for 90 s
 * (three times the test timeout, which a running loop would have fired) reports where it is stuck
 * and is killed, instead of hanging the run (see loop-watchdog.mjs).
 */
import { startLoopWatchdog } from './loop-watchdog.mjs';

startLoopWatchdog({ stuckMs: 90_000 });
