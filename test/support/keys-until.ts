/**
 * Waiting for the keys under a prefix to reach a state, woken by the backend's own watch instead
 * of polling: how the conformance tests see a withdrawal or a release complete.
 */
import type { Coordinator } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';

/**
 * Resolves once `test` holds for the keys under `prefix`, woken by changes; fails after `ms`.
 * The last watch is dropped on return, so it wakes nobody later (tests count wake-ups).
 */
export async function keysUntil(coord: Coordinator, prefix: string, test: (keys: string[]) => boolean, ms = 10_000): Promise<string[]> {
  const timeout = AbortSignal.timeout(ms);
  const done = new AbortController();
  const signal = AbortSignal.any([timeout, done.signal]);
  let keys: string[] | undefined;
  try {
    for (;;) {
      const watched = await backendOf(coord).watchPrefix(prefix, signal);
      keys = watched.current.map((entry) => entry.key);
      if (test(keys)) return keys;
      await watched.changed;
    }
  } catch (error) {
    // The time ran out (during a watch or a read): say what the keys were, not just "timeout".
    if (!timeout.aborted) throw error;
    throw new Error(`keys under ${prefix} still ${JSON.stringify(keys)} after ${ms} ms`, { cause: error });
  } finally {
    done.abort();
  }
}
