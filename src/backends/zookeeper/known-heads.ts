/**
 * Contender nodes this process has seen first in line under their parent. Once a node is first,
 * no node ahead of it can ever appear: the server numbers a parent's sequential children in the
 * order they are created, so every later create sorts behind it. So when a mutex or election
 * waiter's predecessor is deleted and that predecessor was seen first, the waiter is first now
 * (nothing lay between the two, nor can come between), and it needs no listing to know: a
 * handoff between two contenders of one process (two coordinators, or one coordinator's many
 * waiters) is the delete and its watch event, with no `getChildren` after the wake-up.
 *
 * Seen first: the first of any listing this process read (a listing from a server behind the
 * leader only shows the node first later than it was), a node created alone (the enqueue's parent
 * Stat), and a waiter this module declared first. Only names that carry a uuid (protected
 * creates, Baton's and Curator's) are noted: a path is then one node for ever, on any ensemble.
 * A node missing from the set only costs the listing; the set is bounded, and a node is taken out
 * when its deletion admits its successor.
 * @module
 */
import { BoundedSet } from '../bounded-set.js';
import type { QueueEntry } from '../contract.js';
import { lastSegment } from '../key-paths.js';
import { isProtectedName } from './naming.js';

/** How many nodes are remembered: the oldest go first beyond it. */
const heads = new BoundedSet<string>(1024);

/** Notes `key` as having been first under its parent. */
export function noteHead(key: string): void {
  if (isProtectedName(lastSegment(key))) heads.add(key);
}

/** Notes the first of `entries` (a listing in creation order), if any. */
export function noteFirst(entries: readonly QueueEntry[]): void {
  const first = entries[0];
  if (first !== undefined) noteHead(first.key);
}

/** Whether `key` was seen first; forgets it (it is deleted, and its one successor asks once). */
export function takeHead(key: string): boolean {
  return heads.delete(key);
}

/** How many nodes are remembered (for tests). */
export function knownHeadCount(): number {
  return heads.size;
}
