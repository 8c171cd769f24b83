/**
 * {@link Backend.followPrefix} on etcd: a prefix's membership followed through the connection's
 * one watched {@link PrefixView} of it, so queue positions cost O(1) per change and no request to
 * the server. The view re-reads the prefix whenever its watch restarts (a reconnect, a failed
 * member) and the follower is then given the whole membership again; a view that fails for good
 * is replaced by a new one after a pause, the follower told meanwhile that it is behind.
 *
 * The feed belongs to the connection's views (SharedViews, ./view-registry.ts), not to the coordinator that
 * started it: the coordinators sharing a connection share one position view per name
 * (`followScope`), and the first one to close must not end the feed of the others' waiters. It
 * ends when its signal aborts (no waiter asks for positions any more) or when the last
 * coordinator of the connection leaves.
 * @module
 */
import { ClosedError } from '../../errors.js';
import type { PrefixFollower, QueueEntry } from '../contract.js';
import { lastSegment } from '../key-paths.js';
import { roleOfName } from './keys.js';
import type { MembershipFollower, PrefixView, ViewEntry, ViewOwner } from './view.js';

/** First pause before following on a new view after one failed; doubled up to the maximum. */
const RETRY_MS = 50;
const MAX_RETRY_MS = 2000;

/** A view's entry as a listing's. */
export function queueEntryOf(entry: ViewEntry): QueueEntry {
  return { key: entry.key, role: roleOfName(lastSegment(entry.key)), revision: entry.revision };
}

/** Where a feed takes its view from: the connection's views of a namespace. */
export interface FeedViews {
  /** The view of `prefix` with one more reference; throws a ClosedError once the views are closed. */
  acquire(prefix: string): PrefixView;
  release(view: PrefixView): void;
}

/**
 * Whose wait the feed's is: no coordinator's, so that no coordinator's closing ends it (a
 * coordinator's close ends the waits it owns, ./view-registry.ts). It owns no keys.
 */
const FEED: ViewOwner = { ownKeyVanished: () => {} };

/** Follows `prefix` for `follower` until `signal` aborts. Never rejects: positions are reports only. */
export function followView(views: FeedViews, prefix: string, signal: AbortSignal, follower: PrefixFollower): void {
  const relay: MembershipFollower = {
    reset: (entries) => follower.reset(entries.map(queueEntryOf)),
    created: (entry) => follower.created(queueEntryOf(entry)),
    deleted: (key) => follower.deleted(key),
    behind: () => follower.behind?.(),
    caughtUp: () => follower.caughtUp?.(),
  };
  void (async () => {
    let pause = RETRY_MS;
    while (!signal.aborted) {
      let view;
      try {
        view = views.acquire(prefix);
      } catch {
        return; // the last coordinator of the connection left
      }
      const stop = view.follow(relay);
      try {
        // Never satisfied: ends when the signal aborts, or rejects when the view fails for good.
        await view.until(() => false, signal, FEED);
      } catch (error) {
        // a failed view (or the abort): follow on a new one after a pause; the connection closed: stop
        if (error instanceof ClosedError) return;
        // What the follower was told may miss changes from here to the new view's read: no
        // report from it until that view has told it the whole membership again.
        if (!signal.aborted) follower.behind?.();
      } finally {
        stop();
        views.release(view);
      }
      if (signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, pause).unref());
      pause = Math.min(pause * 2, MAX_RETRY_MS);
    }
  })();
}
