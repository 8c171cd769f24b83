/**
 * The one place recipes reach the backend's plain keys: a clear error where a backend has none,
 * and the key each recipe keeps for a name.
 *
 * One name may serve a barrier, a versioned value and a double barrier at once, so each kind has
 * keys of its own. A barrier is the key `<name>` itself: on ZooKeeper that is the node kazoo's and
 * Curator's barriers use, so they and Baton share one barrier. A value and a double barrier's
 * ready flag live under `.baton/<name>/`, as `.value` and `.ready`. No name may have a segment
 * starting with `.` (validate.ts), so no barrier, queue or guarded-write key is ever among them,
 * and the last segment keeps a value apart from a flag of the same name. It also keeps every one
 * a leaf: nothing can be named below `.value`, and on ZooKeeper a node with nodes below it cannot
 * be deleted (`.baton/<name>` alone would be the parent of `.baton/<name>/<more>`).
 * @module
 */
import type { Backend, PlainKeys } from '../backends/contract.js';
import { InvalidArgumentError } from '../errors.js';

export function plainKeysOf(backend: Backend, recipe: string): PlainKeys {
  if (!backend.values) throw new InvalidArgumentError(`the ${backend.kind} backend keeps no plain keys, so it has no ${recipe}`);
  return backend.values;
}

/** The plain key of the versioned value `name`. */
export function valueKey(name: string): string {
  return `.baton/${name}/.value`;
}

/** The plain key of double barrier `name`'s ready flag, set once every member has arrived. */
export function readyFlagKey(name: string): string {
  return `.baton/${name}/.ready`;
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
