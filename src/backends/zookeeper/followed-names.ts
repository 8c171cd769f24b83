/**
 * The queue parents this process follows, one {@link ChildrenView} and one feed (./follow.ts) per
 * parent per feed group (./feed-group.ts: the coordinators of the process that reach one ensemble
 * the same way), whatever the number of coordinators that use it: the group's position views
 * (`Backend.followPrefix`) and its enqueues and wake-ups, which read a waiter's standing from the
 * view instead of listing the children (see ./children-view.ts for why that is safe whatever
 * session the feed runs on). Before, every enqueue listed the whole queue.
 *
 * A view is kept while anyone uses it: a position feed, or a contender that entered through it.
 * Its feed runs on the session of the group member that started it while that one is open and in
 * contact, else on another member's (FeedGroup.connection), and ends once the group has none.
 * @module
 */
import type { PrefixFollower } from '../contract.js';
import { ChildrenView } from './children-view.js';
import type { FeedGroup, FeedMember } from './feed-group.js';
import { followChildren } from './follow.js';

/** One use of a followed name, given back once. */
export interface FollowedName {
  readonly view: ChildrenView;
  release(): void;
}

interface Followed {
  readonly view: ChildrenView;
  readonly stop: AbortController;
  uses: number;
}

const followed = new WeakMap<FeedGroup, Map<string, Followed>>();

/** The view of `parent` when the group follows it, else undefined. */
export function followedView(group: FeedGroup, parent: string): ChildrenView | undefined {
  return followed.get(group)?.get(parent)?.view;
}

/** Follows `parent` for the group (starting the feed, on `member`'s session first, if nobody did) until released. */
export function followName(group: FeedGroup, member: FeedMember, parent: string): FollowedName {
  let names = followed.get(group);
  if (!names) followed.set(group, (names = new Map()));
  let entry = names.get(parent);
  if (entry === undefined) {
    const made: Followed = { view: new ChildrenView(), stop: new AbortController(), uses: 0 };
    entry = made;
    names.set(parent, made);
    followChildren({ connection: () => group.connection(member) }, parent, made.stop.signal, made.view);
  }
  const current = entry;
  const byParent = names;
  current.uses++;
  let released = false;
  return {
    view: current.view,
    release: () => {
      if (released) return;
      released = true;
      if (--current.uses > 0) return;
      if (byParent.get(parent) === current) byParent.delete(parent);
      current.stop.abort();
    },
  };
}

/** Follows `parent` for a position feed until `signal` aborts. */
export function followForPositions(group: FeedGroup, member: FeedMember, parent: string, signal: AbortSignal, follower: PrefixFollower): void {
  const use = followName(group, member, parent);
  const unfollow = use.view.follow(follower);
  signal.addEventListener(
    'abort',
    () => {
      unfollow();
      use.release();
    },
    { once: true },
  );
}

/** A contender's use of its name's view, from its enqueue until its own node's watch ends. */
export interface ViewUse {
  /** The view to read the contender's standing from; undefined: list the children. */
  readonly view: ChildrenView | undefined;
  /** The contender is gone (released, withdrawn, lost). Idempotent. */
  end(): void;
}

/**
 * Which of a coordinator's enqueues read their standing from the name's view. A name the process
 * follows already (position feeds, other contenders) is used at once. Otherwise a coordinator
 * starts following a name when it enters a second contender there while the first still lives:
 * its contenders would each list the queue, O(queue) apiece, where the feed costs one notification
 * per change. A lone contender per coordinator keeps listing, as Curator and kazoo do: a feed
 * would tell its session of every change for the sake of one enqueue. The uncontended path (the
 * last enqueue there was alone, and nobody follows the name) is left as it is: nothing counted.
 */
export class ContenderViews {
  /** Live contenders of this coordinator per parent, counted from enqueue to the end of their own-node watch. */
  readonly #live = new Map<string, number>();

  constructor(
    private readonly group: FeedGroup,
    private readonly member: FeedMember,
  ) {}

  /** For a standing-only enqueue under `parent`; `soloGuess`: the last enqueue there was alone. */
  enter(parent: string, soloGuess: boolean): ViewUse | undefined {
    const followedNow = followedView(this.group, parent);
    if (soloGuess && followedNow === undefined) return undefined;
    const live = this.#live.get(parent) ?? 0;
    this.#live.set(parent, live + 1);
    const use = followedNow !== undefined || live >= 1 ? followName(this.group, this.member, parent) : undefined;
    let ended = false;
    return {
      view: use?.view,
      end: () => {
        if (ended) return;
        ended = true;
        use?.release();
        const left = (this.#live.get(parent) ?? 1) - 1;
        if (left > 0) this.#live.set(parent, left);
        else this.#live.delete(parent);
      },
    };
  }
}
