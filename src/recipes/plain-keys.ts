/**
 * The one place recipes reach the backend's plain keys: a clear error where a backend has none.
 * @module
 */
import type { Backend, PlainKeys } from '../backends/contract.js';
import { InvalidArgumentError } from '../errors.js';

export function plainKeysOf(backend: Backend, recipe: string): PlainKeys {
  if (!backend.values) throw new InvalidArgumentError(`the ${backend.kind} backend keeps no plain keys, so it has no ${recipe}`);
  return backend.values;
}

/** Waits for `watched` to report a change, or for `signal` to abort (rejecting with its reason). */
export function changeOrAbort(changed: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    changed.then(
      () => (signal.removeEventListener('abort', onAbort), resolve()),
      (error) => (signal.removeEventListener('abort', onAbort), reject(error)),
    );
  });
}
