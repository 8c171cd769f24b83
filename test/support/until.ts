/**
 * Waiting for a condition the test cannot be woken by (a callback's record, a counter, a
 * server's statistics): checked again at every turn of the event loop, with no fixed sleep.
 */

/**
 * Resolves once `test()` holds. An async test is awaited before the next check, so one that asks
 * a server paces itself. Rejects after `withinMs`, naming `what` (a function is asked only then,
 * so it can say what the state was at the end), so that an event that never comes fails the test
 * instead of hanging it.
 */
export async function until(test: () => boolean | Promise<boolean>, what: string | (() => string) = 'the condition', withinMs = 30_000): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!(await test())) {
    if (performance.now() > deadline) throw new Error(`${typeof what === 'function' ? what() : what}: not reached within ${withinMs / 1000} s`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
