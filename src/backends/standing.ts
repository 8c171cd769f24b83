/**
 * A contender key's {@link Standing} (the head of its queue and the key just ahead of it) and the
 * listing that goes with it, for adapters and recipes alike.
 * @module
 */
import type { QueueEntry, Role, Standing } from './contract.js';

/** The standing of `key` in a full listing (creation order): what a backend without a bounded read gives. */
export function standingIn(entries: readonly QueueEntry[], key: string): Standing {
  const index = entries.findIndex((entry) => entry.key === key);
  if (index < 0) return { present: false, head: undefined, predecessor: undefined };
  return { present: true, head: entries[0], predecessor: index > 0 ? entries[index - 1] : undefined };
}

/**
 * The keys a standing names, then the new key, in creation order: the listing an enqueue returns
 * when it read only the standing.
 */
export function keysOfStanding(standing: Standing, key: string, role: Role, revision: bigint): QueueEntry[] {
  const entries: QueueEntry[] = [];
  const { head, predecessor } = standing;
  if (head && head.key !== key && head.key !== predecessor?.key) entries.push(head);
  if (predecessor) entries.push(predecessor);
  entries.push({ key, role, revision });
  return entries;
}
