/**
 * The one place recipes reach the backend's plain keys: a clear error where a backend has none,
 * and the keys each recipe keeps for a name.
 *
 * One name may serve a barrier, a versioned value, a double barrier, a guarded write's key and a
 * lock or election at once, so each kind has keys of its own. A guarded write's key is the name
 * as given (the user's key, readable by other clients) and a lock's or election's queue is the
 * name (etcdctl's, Go's, Curator's and kazoo's layouts). Everything else lives under
 * `.baton/<name>/`: a value as `.value`, a double barrier's ready flag as `.ready`, its members'
 * queue as `.members/` (members are ephemeral keys like an election's candidates: in the name's
 * own queue each would count or follow the other), and a barrier as `.barrier`. No name may have
 * a segment starting with `.` (validate.ts), so no queue or guarded-write key is ever among them,
 * and the last segment keeps each apart from the others. It also keeps every plain one a leaf:
 * nothing can be named below `.value`, and on ZooKeeper a node with nodes below it cannot be
 * deleted (`.baton/<name>` alone would be the parent of `.baton/<name>/<more>`).
 *
 * The one exception is the barrier on ZooKeeper ({@link PlainKeys.barrierIsTheName}): it is the
 * node `<chroot>/<name>` that kazoo's and Curator's barriers use, so they and Baton share one
 * barrier; it is then also the node a guarded write of that name writes (README, guarantees and
 * limits).
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

/** The queue of double barrier `name`'s members, apart from every lock's or election's queue. */
export function membersPrefix(name: string): string {
  return `.baton/${name}/.members`;
}

/** The double barrier whose members' queue is `queue` ({@link membersPrefix}); undefined for any other queue. */
export function doubleBarrierOfMembers(queue: string): string | undefined {
  return /^\.baton\/(.+)\/\.members$/.exec(queue)?.[1];
}

/** Whether `key` is one of the keys Baton keeps under `.baton/`, never a name of its own. */
export function isInternal(key: string): boolean {
  return key === '.baton' || key.startsWith('.baton/');
}

/**
 * Where the internal keys of the names under `prefix` live (`.baton/<prefix>`): a double
 * barrier's members, for one, are not under the name's own prefix. `''` (every name) covers them.
 */
export function internalPrefixOf(prefix: string): string {
  return prefix === '' ? '' : `.baton/${prefix}`;
}

/** The plain key of barrier `name` in `keys`: the name itself only where others share it. */
export function barrierKey(keys: PlainKeys, name: string): string {
  return keys.barrierIsTheName ? name : `.baton/${name}/.barrier`;
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
