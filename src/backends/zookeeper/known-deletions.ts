/**
 * Queue nodes this process knows are deleted, and the position feeds (./follow.ts: one per name per
 * feed group, ./feed-group.ts) told of each at once. Each feed hears of a deletion through the
 * notifications of the session it follows on, and those may come well after another session has seen the same
 * node's delete confirmed: a handoff between two waiters of the process (one's release, the
 * other's grant on its predecessor's deletion, ./known-heads.ts) is faster than the notification
 * feeds of the other coordinators, and ZooKeeper tells no feed that it is behind. A feed that
 * reported from its own notifications alone would then count, as still ahead, a waiter whose
 * release has already finished (issue 11: every report must be right when made).
 *
 * Known deleted: a delete this process saw confirmed (a release, a withdrawal: deleted now or
 * already absent), or a deletion any of its coordinators was notified of (a position feed, a
 * blocker's watch). A deletion known to the process is applied to every feed on that parent
 * directly, rather than holding the feed's reports until its own notifications show it (as etcd's
 * report floor does, ../etcd/process-writes.ts): the node's deletion is a fact, and a deleted
 * sequential node never comes back, so applying it early can only make a view truer, never show
 * a state the queue was not in. Holding would need each feed to track the nodes it still shows
 * (and those it has not even seen created yet) and would stall a feed that reconnects to a server
 * that never shows them; applying needs only that a feed skips, in a later creation notification
 * or listing, a node already known deleted. (The views also hold their reports while they still
 * show a key whose release or withdrawal resolved in the process, QueueView.confirmedGone: on
 * ZooKeeper the deletion is noted here when its delete is confirmed, before the release resolves,
 * so a view has applied it by then and is not held; a lagging coordinator is told its new position
 * at once rather than when its own notifications come.)
 *
 * Only names that carry a uuid (protected creates, Baton's and Curator's) are noted: such a path
 * is one node on one ensemble for ever, so the record needs no key for the ensemble (ZooKeeper's
 * answers carry no ensemble id, and keying by addresses would keep apart two coordinators that
 * reach one ensemble by different ones), and two ensembles, or two chroots, never mix: a path
 * noted on one is never listed on another. Nodes without a uuid are not noted (a parent deleted
 * and made again numbers its children from 0 again): their feeds keep their own pace. The record
 * is bounded: a feed lags by a few notifications, not by thousands.
 * @module
 */
import { BoundedSet } from '../bounded-set.js';
import type { QueueEntry } from '../contract.js';
import { lastSegment, parentOf } from '../key-paths.js';
import { isProtectedName } from './naming.js';

/** How many deletions are remembered: the oldest go first beyond it. */
const deleted = new BoundedSet<string>(4096);
/** Who is told of a deletion, by parent path. */
const listeners = new Map<string, Set<(key: string) => void>>();

/** `key` is known to be deleted: remembered, and the listeners on its parent are told (once). */
export function noteDeleted(key: string): void {
  if (deleted.has(key) || !isProtectedName(lastSegment(key))) return;
  deleted.add(key);
  const found = listeners.get(parentOf(key));
  if (found) for (const listener of [...found]) listener(key);
}

/** Whether `key` is known to be deleted (a notification of its creation, or a listing, is late). */
export function isKnownDeleted(key: string): boolean {
  return deleted.has(key);
}

/** `entries` without the nodes known to be deleted. */
export function withoutKnownDeleted(entries: QueueEntry[]): QueueEntry[] {
  return deleted.size === 0 || !entries.some((entry) => deleted.has(entry.key)) ? entries : entries.filter((entry) => !deleted.has(entry.key));
}

/** Calls `listener` with each deletion under `parent` noted from now on; returns the stop. */
export function onKnownDeletion(parent: string, listener: (key: string) => void): () => void {
  let set = listeners.get(parent);
  if (!set) listeners.set(parent, (set = new Set()));
  set.add(listener);
  return () => {
    set.delete(listener);
    if (set.size === 0 && listeners.get(parent) === set) listeners.delete(parent);
  };
}
