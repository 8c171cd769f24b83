/**
 * One way for adapters to build waits that end on an event or on an AbortSignal, whichever comes
 * first, always unregistering the listener so nothing leaks.
 * @module
 */

/**
 * Returns a promise that `arm` settles through `resolve`/`reject`, or that rejects with
 * `signal.reason` when `signal` aborts first. `arm` returns its cleanup, which runs exactly once
 * when the promise settles either way. A rejection nobody awaits is not reported as unhandled:
 * recipes often drop a watch they no longer need.
 */
export function abortable<T>(
  signal: AbortSignal,
  arm: (resolve: (value: T) => void, reject: (error: unknown) => void) => () => void,
): Promise<T> {
  const promise = new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    let settled = false;
    let cleanup: (() => void) | undefined;
    const finish = () => {
      settled = true;
      signal.removeEventListener('abort', onAbort);
      cleanup?.();
    };
    const onAbort = () => {
      if (settled) return;
      finish();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    cleanup = arm(
      (value) => {
        if (settled) return;
        finish();
        resolve(value);
      },
      (error) => {
        if (settled) return;
        finish();
        reject(error);
      },
    );
    if (settled) cleanup();
  });
  promise.catch(() => {});
  return promise;
}
