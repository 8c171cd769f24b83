/**
 * A memory coordinator's feed of a prefix's membership (`Backend.followPrefix`), through its link.
 *
 * The store tells of each change at once, in order, before the write's answer reaches anyone:
 * a removal confirmed to any coordinator of the process is already in the feed. Only a frozen link
 * ({@link MemoryFaults.freeze}) holds changes back, and meanwhile another coordinator's link may
 * confirm a removal the feed does not show yet. So the feed says so itself: the follower is told
 * it is `behind` when the first change is held, and `caughtUp` once the held changes are delivered,
 * in order, after the thaw. Queue positions then need no separate word of this process's confirmed
 * removals (positions.ts, `confirmedGone`): the memory backend declares `followTellsBehind`.
 * @module
 */
import type { PrefixFollower, QueueEntry } from '../contract.js';
import type { MemoryFaults } from './faults.js';

/** Relays the store's changes to `follower`, held back (and said to be) while `faults` has the link frozen. */
export function relayThroughLink(faults: MemoryFaults, follower: PrefixFollower): PrefixFollower {
  /** Changes held back, in order; undefined when none is. */
  let held: (() => void)[] | undefined;
  const deliverHeld = (): void => {
    // Frozen again before the thaw's turn came: wait for the next thaw.
    if (faults.frozen) return faults.notify(deliverHeld);
    // A change made while these are delivered joins the end of the list, and is delivered in turn.
    for (const change of held ?? []) change();
    held = undefined;
    follower.caughtUp?.();
  };
  const hold = (change: () => void): void => {
    if (held) return void held.push(change);
    held = [change];
    follower.behind?.();
    faults.notify(deliverHeld);
  };
  /** `tell`, passed a change at once while nothing is held, else held behind the others. */
  const relay =
    <T>(tell: (change: T) => void) =>
    (change: T): void =>
      faults.frozen || held ? hold(() => tell(change)) : tell(change);
  return {
    reset: relay((entries: readonly QueueEntry[]) => follower.reset(entries)),
    created: relay((entry: QueueEntry) => follower.created(entry)),
    deleted: relay((key: string) => follower.deleted(key)),
  };
}
