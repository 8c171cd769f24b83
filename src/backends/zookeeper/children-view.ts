/**
 * One queue parent's contender children as this process follows them (./followed-names.ts): the
 * live nodes in creation order, kept from one feed's listing and notifications (./follow.ts), with
 * the deletions the process knows of applied at once (./known-deletions.ts). It answers where a
 * node stands (the head, and the node just ahead of it) in O(1), and hands every change on to the
 * position feeds that follow the name.
 *
 * What makes its answer safe to act on: once the view shows a node, it reflects every node created
 * before it. The feed hears of changes in the order the server made them, on one session, and adds
 * the watch before it lists: a node it shows came in with a listing read after that node's create,
 * or with the notification of its create, which that session gets after those of every earlier
 * change. Whatever session created the node, the view that shows it therefore holds every node that
 * could be ahead of it, less some already deleted. A node's standing read from it is then a state
 * the queue was in at or after the node's create, except for deletions seen early, which only make
 * it truer: nothing is ever created ahead of a node (the server numbers a parent's children in
 * creation order), so the node just ahead in the view has nothing live between it and the node.
 * If that one is gone already, the waiter's wait on it ends at once and it looks again.
 * @module
 */
import type { PrefixFollower, QueueEntry, Standing } from '../contract.js';
import type { ZkConnection } from './connection.js';

/** One live child, linked in creation order. */
interface Child {
  readonly entry: QueueEntry;
  prev: Child | undefined;
  next: Child | undefined;
}

/** Someone waiting for the view to show a key (an enqueue whose create it has not seen yet). */
interface Awaiting {
  readonly resolve: () => void;
}

export class ChildrenView implements PrefixFollower {
  readonly #children = new Map<string, Child>();
  #head: Child | undefined;
  #tail: Child | undefined;
  /** Whether a listing has come since the feed started: before it, the view shows nothing. */
  #listed = false;
  readonly #followers = new Set<PrefixFollower>();
  /** Keys an enqueue waits to see, made on first use. */
  #awaiting: Map<string, Awaiting[]> | undefined;
  /** The connection the feed runs on (its latest start). */
  #feed: ZkConnection | undefined;

  /** The connection the feed runs on: an enqueue on it gets its answer after the view shows its node. */
  get feedConnection(): ZkConnection | undefined {
    return this.#feed;
  }

  get size(): number {
    return this.#children.size;
  }

  /** Whether the view has been listed, so that what it shows is the queue as of some moment. */
  get listed(): boolean {
    return this.#listed;
  }

  /** Whether the view shows `key`: then it shows every node created before it (see the module). */
  shows(key: string): boolean {
    return this.#children.has(key);
  }

  /**
   * Where `key` stands, when the view shows it (else undefined): the head, and the node just
   * ahead of it (undefined when it is first).
   */
  standingOf(key: string): Standing | undefined {
    const child = this.#children.get(key);
    if (child === undefined) return undefined;
    return { present: true, head: this.#head?.entry, predecessor: child.prev?.entry };
  }

  /** The live children in creation order (for a follower that joins a view already listed). */
  entries(): QueueEntry[] {
    const entries: QueueEntry[] = [];
    for (let child = this.#head; child; child = child.next) entries.push(child.entry);
    return entries;
  }

  /**
   * Resolves once the view shows `key` (at once if it does), or with false after `ms`. A view that
   * never shows it (the node deleted before the feed saw it, a feed that cannot list) leaves the
   * caller to list the children itself.
   */
  whenShows(key: string, ms: number): Promise<boolean> {
    if (this.#children.has(key)) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const awaiting = (this.#awaiting ??= new Map());
      let list = awaiting.get(key);
      if (!list) awaiting.set(key, (list = []));
      const timer = setTimeout(() => {
        drop();
        resolve(false);
      }, ms);
      const entry: Awaiting = {
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const drop = () => {
        const current = awaiting.get(key);
        if (!current) return;
        const at = current.indexOf(entry);
        if (at >= 0) current.splice(at, 1);
        if (current.length === 0) awaiting.delete(key);
      };
      list.push(entry);
    });
  }

  /** Adds a position feed: told the whole membership now if listed, then every change. */
  follow(follower: PrefixFollower): () => void {
    this.#followers.add(follower);
    if (this.#listed) follower.reset(this.entries());
    return () => this.#followers.delete(follower);
  }

  get followerCount(): number {
    return this.#followers.size;
  }

  /** The feed (re)started on `conn`: nothing new is shown until it has listed again. */
  unlisted(conn: ZkConnection): void {
    this.#listed = false;
    this.#feed = conn;
  }

  reset(entries: readonly QueueEntry[]): void {
    this.#children.clear();
    this.#head = this.#tail = undefined;
    for (const entry of entries) this.#append(entry);
    this.#listed = true;
    for (const follower of [...this.#followers]) follower.reset(entries);
    const awaiting = this.#awaiting;
    if (awaiting !== undefined && awaiting.size > 0) for (const key of [...awaiting.keys()]) if (this.#children.has(key)) this.#wake(key);
  }

  created(entry: QueueEntry): void {
    if (!this.#listed || this.#children.has(entry.key)) return;
    this.#append(entry);
    for (const follower of this.#followers) follower.created(entry);
    if (this.#awaiting?.has(entry.key)) this.#wake(entry.key);
  }

  deleted(key: string): void {
    const child = this.#children.get(key);
    if (child === undefined) return;
    this.#children.delete(key);
    if (child.prev) child.prev.next = child.next;
    else this.#head = child.next;
    if (child.next) child.next.prev = child.prev;
    else this.#tail = child.prev;
    for (const follower of this.#followers) follower.deleted(key);
  }

  #append(entry: QueueEntry): void {
    const child: Child = { entry, prev: this.#tail, next: undefined };
    if (this.#tail) this.#tail.next = child;
    else this.#head = child;
    this.#tail = child;
    this.#children.set(entry.key, child);
  }

  #wake(key: string): void {
    const list = this.#awaiting?.get(key);
    if (!list) return;
    this.#awaiting!.delete(key);
    for (const entry of list) entry.resolve();
  }
}
