/**
 * {@link Backend.followPrefix} on etcd: a prefix's membership followed through the adapter's one
 * watched {@link PrefixView} of it, so queue positions cost O(1) per change per coordinator and no
 * request to the server. The view re-reads the prefix whenever its watch restarts (a reconnect, a
 * failed member) and the follower is then given the whole membership again; a view that fails
 * for good is replaced by a new one after a pause.
 * @module
 */
import { ClosedError } from '../../errors.js';
import type { PrefixFollower, QueueEntry } from '../contract.js';
import { lastSegment } from '../key-paths.js';
import { roleOfName } from './keys.js';
import type { MembershipFollower, ViewEntry } from './view.js';
import type { ViewRegistry } from './view-registry.js';

/** First pause before following on a new view after one failed; doubled up to the maximum. */
const RETRY_MS = 50;
const MAX_RETRY_MS = 2000;

/** A view's entry as a listing's. */
export function queueEntryOf(entry: ViewEntry): QueueEntry {
  return { key: entry.key, role: roleOfName(lastSegment(entry.key)), revision: entry.revision };
}

/** Follows `prefix` for `follower` until `signal` aborts. Never rejects: positions are reports only. */
export function followView(views: ViewRegistry, prefix: string, signal: AbortSignal, follower: PrefixFollower): void {
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
        return; // the coordinator was closed
      }
      const stop = view.follow(relay);
      try {
        // Never satisfied: ends when the signal aborts, or rejects when the view fails for good.
        await view.until(() => false, signal, views);
      } catch (error) {
        // a failed view (or the abort): follow on a new one after a pause; the coordinator closed: stop
        if (error instanceof ClosedError) return;
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
