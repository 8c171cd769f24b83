/**
 * Small facts about keys that every adapter needs the same way: creation order, and the parts
 * of a `/`-separated key.
 * @module
 */

/** Orders anything with a creation revision, lowest (oldest) first; for `Array.prototype.sort`. */
export function byRevision(a: { readonly revision: bigint }, b: { readonly revision: bigint }): number {
  return a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0;
}

/** The parent prefix of a key (`a/b/c` -> `a/b`; `''` for a key without `/`). */
export function parentOf(key: string): string {
  const slash = key.lastIndexOf('/');
  return slash < 0 ? '' : key.slice(0, slash);
}

/** The last segment of a key (`a/b/c` -> `c`). */
export function lastSegment(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}
