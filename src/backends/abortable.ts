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
  // A signal nothing can abort needs no listener (adding and removing one is most of the cost).
  const listen = canAbort(signal);
  const promise = new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    let settled = false;
    let cleanup: (() => void) | undefined;
    const finish = () => {
      settled = true;
      if (listen) signal.removeEventListener('abort', onAbort);
      cleanup?.();
    };
    const onAbort = () => {
      if (settled) return;
      finish();
      reject(signal.reason);
    };
    if (listen) signal.addEventListener('abort', onAbort, { once: true });
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

/**
 * `promise`, or a rejection with `signal.reason` as soon as `signal` aborts, whichever comes
 * first. The promise itself carries on; a rejection of it after the race is lost is not reported
 * as unhandled. This is how a caller bounds a wait on a backend that may not honour its signal.
 */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal || !canAbort(signal)) return promise;
  promise.catch(() => {});
  if (signal.aborted) return Promise.reject(signal.reason);
  return abortable<T>(signal, (resolve, reject) => {
    promise.then(resolve, reject);
    return () => {};
  });
}

const neverAborted = new WeakSet<AbortSignal>();

/**
 * A new signal that nothing will ever abort (see {@link canAbort}): what an acquire with no
 * timeout and no caller signal waits within. Fresh on each call, so that a listener some call
 * leaves on it goes with it, never piling up on one shared signal.
 */
export function neverAborting(): AbortSignal {
  const signal = new AbortController().signal;
  neverAborted.add(signal);
  return signal;
}

/** False for a signal from {@link neverAborting}: waiting on it needs no listener, link or race. */
export function canAbort(signal: AbortSignal): boolean {
  return !neverAborted.has(signal);
}
