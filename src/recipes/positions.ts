/**
 * Queue positions for waiters that ask for them (`onQueued`), at O(1) work per waiter per change.
 *
 * One {@link QueueView} per prefix per {@link Backend.followScope} (per process where coordinators
 * reach the same thing the same way: memory's one store, an etcd connection's namespace, a
 * ZooKeeper ensemble, chroot and credentials; else per coordinator) follows the prefix's membership
 * (creations and deletions, in order) and keeps, for each of its subscribed waiters, the number of keys ahead of
 * it. A deletion decrements that count for the subscribers behind the deleted key only, found by
 * a binary search, on the shorter side: a release at the head is one shift counted for all of
 * them, O(1); a creation joins at the tail (revisions grow), behind everyone. No subscriber ever
 * rescans the queue, and the view holds no listing per waiter.
 *
 * Changes are not reported as they are applied: the view marks the subscribers whose position may
 * have changed and asks for a flush, which tells each of them its position then, once. A batch of
 * changes (a session's keys revoked together, a watch response with several events, a
 * resynchronisation) is thus reported as its end state, never step by step through states that
 * were already past. Flushes are paced, process-wide, so that reporting takes about a fortieth
 * of the process's time at most ({@link requestFlush}): under a high rate of changes a waiter's reports
 * are coalesced, at most one pending per waiter, carrying its newest position. A waiter's first
 * report and the waiter next in line's are made at once (a microtask), and a waiter's last report
 * before its grant is 0. A view fed
 * over a network reports nothing while its feed is behind a write this process saw confirmed
 * ({@link QueueView.behind}).
 *
 * The view is fed by the backend's {@link Backend.followPrefix} where it has one (incremental
 * events: O(1) per change), else by re-listing the prefix on every change ({@link Backend.watchPrefix})
 * and applying the difference: one listing per change per scope, shared by all of its waiters on
 * that prefix. The feed is started through the backend of the view's first waiter, and a scope
 * shared by several coordinators keeps it going when that one closes. Positions are reports only:
 * waiting itself never depends on the view.
 * @module
 */
import type { Backend, QueueEntry, Role } from '../backends/contract.js';
import { parentOf } from '../backends/key-paths.js';
import { inMicrotask, requestFlush, resumeFlush } from './report-pacing.js';

/** One contender key in a view, linked in queue (creation) order. */
interface ViewNode {
  readonly key: string;
  readonly role: Role;
  /** Creation revision where the backend reports it: a name deleted and created again is another key. */
  readonly revision: bigint | undefined;
  /** Order of arrival in the view: increases along the queue. */
  readonly seq: number;
  prev: ViewNode | undefined;
  next: ViewNode | undefined;
  subscriber: Subscriber | undefined;
}

/** A waiter's position reports, from {@link QueueView.subscribe}. */
export interface Subscription {
  /** Ends them; `admitted`: the waiter was granted (its last report is then 0). */
  stop(admitted?: boolean): void;
}

/**
 * One subscribed waiter. A class whose `stop` calls its view's one shared function, not closures
 * made per waiter: every waiter that asks for positions keeps one while it waits.
 */
class Subscriber implements Subscription {
  node: ViewNode | undefined = undefined;
  /** Keys ahead of this one in the queue, holders included, plus the view's #shift. */
  ahead = 0;
  reported: number | undefined = undefined;
  removed = false;

  constructor(
    readonly key: string,
    readonly report: (position: number) => void,
    private readonly end: (subscriber: Subscriber, admitted: boolean) => void,
  ) {}

  stop(admitted = false): void {
    this.end(this, admitted);
  }
}

/**
 * How admission looks at the head of a queue: `shared(role)` keys are admitted together until the
 * first key of another role (readers before the first writer); any other key is admitted only at
 * the head. For a mutex or election nothing is shared.
 */
export interface HeadRule {
  readonly shared: (role: Role) => boolean;
}

/** How a {@link QueueView} asks for its reports to be made. */
export interface Schedule {
  /** The full flush, paced. */
  paced(flush: () => void): void;
  /** The check of who is next in line: soon, unpaced. */
  soon(check: () => void): void;
  /** A paced flush that found the feed behind, now that it has caught up (default: `paced`). */
  resumed?(flush: () => void): void;
}

/** The ordered membership of one prefix, as one coordinator follows it. */
export class QueueView {
  readonly #nodes = new Map<string, ViewNode>();
  #head: ViewNode | undefined;
  #tail: ViewNode | undefined;
  #nextSeq = 0;
  /** The first key that is not shared, and the number of keys ahead of it. */
  #firstExclusive: ViewNode | undefined;
  #firstExclusiveIndex = 0;
  /** Subscribers in queue order (by their node's seq); removed ones are dropped lazily. */
  #subscribers: Subscriber[] = [];
  #removedSubscribers = 0;
  /** Subscribers whose key the view has not seen yet. */
  readonly #pending = new Map<string, Subscriber>();
  #subscriberCount = 0;
  /**
   * Deletions counted for every subscriber at once: a subscriber's keys ahead are its `ahead`
   * less this. A release (the head's deletion) is then one increment, not one per waiter.
   */
  #shift = 0;
  /** Index in #subscribers of the first one whose position may have changed since the last flush. */
  #dirtyFrom = Infinity;
  #flushRequested = false;
  readonly #flush = () => this.flush();
  /** Index in #subscribers before which all are removed (grants remove from the front). */
  #front = 0;
  /** Subscribers not yet told anything: their first report is made with {@link tellSoon}. */
  #newcomers: Subscriber[] = [];
  #soonRequested = false;
  readonly #tellSoon = () => this.tellSoon();
  /**
   * Set while the feed says its state is older than a write this process saw confirmed
   * ({@link behind}): nothing is reported until it has caught up, and what was marked then goes
   * out with the flush that follows.
   */
  #behind = false;
  /**
   * Keys this process has seen confirmed gone (a release or withdrawal by any coordinator of the
   * process) that the feed still shows: its state is older than those deletions, and nothing is
   * reported until it has shown them ({@link confirmedGone}). Made on first use.
   */
  #awaited: Set<string> | undefined;
  /** Whether a flush ran while held ({@link #held}): its turn is taken up once it no longer is. */
  #flushSkipped = false;
  #whenEmpty: (() => void) | undefined;
  /** The key of the last deletion the view applied (see {@link confirmedGone}). */
  #lastDeleted: string | undefined;

  /**
   * @param schedule how flushes are asked for: `paced` for the full flush (by default the
   * process-wide paced one), `soon` for the check of who is next in line (by default a
   * microtask). Tests pass functions that do nothing and call {@link flush} themselves.
   */
  constructor(
    private readonly rule: HeadRule,
    private readonly schedule: Schedule = PACED,
  ) {}

  get size(): number {
    return this.#nodes.size;
  }

  /** Holders at the head: the admitted prefix's length. */
  #admitted(): number {
    if (!this.#firstExclusive) return this.#nodes.size;
    return this.#firstExclusiveIndex === 0 ? 1 : this.#firstExclusiveIndex;
  }

  /** Replaces the whole membership (first sync, or a resync after a failed feed). */
  reset(entries: readonly QueueEntry[]): void {
    const current = new Map(entries.map((e) => [e.key, e]));
    for (const node of [...this.#nodes.values()]) {
      const listed = current.get(node.key);
      if (!listed || isRecreated(node, listed)) this.deleted(node.key);
    }
    for (const entry of entries) if (!this.#nodes.has(entry.key)) this.created(entry);
  }

  /** A key joined the queue; it is the newest, so it goes to the tail. */
  created(entry: QueueEntry): void {
    const existing = this.#nodes.get(entry.key);
    if (existing) {
      if (!isRecreated(existing, entry)) return;
      this.deleted(entry.key); // its deletion was missed: the name now stands for a new key at the tail
    }
    // The name stands for a new key: a confirmation that it is gone is no longer about a deletion seen.
    if (entry.key === this.#lastDeleted) this.#lastDeleted = undefined;
    const admittedBefore = this.#admitted();
    const node: ViewNode = { key: entry.key, role: entry.role, revision: entry.revision, seq: this.#nextSeq++, prev: this.#tail, next: undefined, subscriber: undefined };
    if (this.#tail) this.#tail.next = node;
    else this.#head = node;
    this.#tail = node;
    if (!this.#firstExclusive && !this.rule.shared(node.role)) {
      this.#firstExclusive = node;
      this.#firstExclusiveIndex = this.#nodes.size;
    }
    this.#nodes.set(node.key, node);
    const waiting = this.#pending.get(node.key);
    if (waiting) {
      this.#pending.delete(node.key);
      this.#attach(waiting, node, this.#nodes.size - 1);
    }
    if (this.#admitted() !== admittedBefore) this.#changedFrom(0);
  }

  /** A key left the queue (released, withdrawn, expired). */
  deleted(key: string): void {
    // A release is the head's deletion: found without a lookup (one less likely cache miss per
    // handoff in a long queue; the map's own delete below is the other).
    const head = this.#head;
    const node = head !== undefined && head.key === key ? head : this.#nodes.get(key);
    if (!node) return;
    this.#lastDeleted = key;
    const admittedBefore = this.#admitted();
    if (node === this.#firstExclusive) {
      // The next key that is not shared becomes the first; the shared keys walked over are
      // admitted now and never walked again (the first exclusive key only moves back).
      let index = this.#firstExclusiveIndex;
      let next = node.next;
      while (next && this.rule.shared(next.role)) {
        next = next.next;
        index++;
      }
      this.#firstExclusive = next;
      this.#firstExclusiveIndex = index;
    } else if (this.#firstExclusive && node.seq < this.#firstExclusive.seq) {
      this.#firstExclusiveIndex--;
    }
    if (node.prev) node.prev.next = node.next;
    else this.#head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.#tail = node.prev;
    this.#nodes.delete(key);
    if (this.#awaited !== undefined && this.#awaited.size > 0) this.#awaited.delete(key);
    if (node.subscriber) this.#detach(node.subscriber);
    // Everyone behind the deleted key has one key fewer ahead: counted on the shorter side, by
    // the shift for all less those ahead of the key (none, for a release at the head) or one by
    // one for those behind. The reports go out at the next flush. Subscribers before #front are
    // removed (granted waiters, dropped lazily): their counts no longer matter, and walking them
    // made each release at the head cost up to half the queue.
    const subscribers = this.#subscribers;
    const front = this.#skipRemoved();
    // A release at the head (no key ahead of it): every subscriber still waiting is behind it,
    // and those before #front are removed, so no binary search (each of its steps a likely cache
    // miss, once per handoff).
    const behind = node.prev ? this.#firstBehind(node.seq) : front;
    if (behind - front <= subscribers.length - behind) {
      this.#shift++;
      for (let i = front; i < behind; i++) (subscribers[i] as Subscriber).ahead++;
    } else {
      for (let i = behind; i < subscribers.length; i++) (subscribers[i] as Subscriber).ahead--;
    }
    this.#changedFrom(this.#admitted() !== admittedBefore ? 0 : behind);
  }

  /**
   * The feed's state is older than a write this process has seen confirmed (a release another
   * coordinator's answer already confirmed, see Backend.followPrefix): a report made now could
   * count a waiter already gone. Reports wait for {@link caughtUp}.
   */
  behind(): void {
    this.#behind = true;
  }

  /** The feed shows every write {@link behind} was about: what waited is reported. */
  caughtUp(): void {
    if (!this.#behind) return;
    this.#behind = false;
    if (this.#dirtyFrom !== Infinity) this.#request();
  }

  /**
   * `key` (created at `revision`, when known) was confirmed gone to this process. If the feed
   * still shows it, its state is older than that deletion, which another coordinator of the
   * process may already have acted on (its release resolved): reports wait until the feed shows
   * the deletion. A feed that says when it is {@link behind} needs none of this; one that does
   * not (ZooKeeper: each coordinator's session hears of another's release a moment after that
   * one's answer, and reports are made on a timer) does.
   */
  confirmedGone(key: string, revision: bigint | undefined): void {
    // Usually the feed showed this very deletion last (a feed on the connection that removed the
    // key hears of it before the removal's answer): no lookup in a long queue's map for it.
    if (key === this.#lastDeleted) return;
    const node = this.#nodes.get(key);
    if (!node || (node.revision !== undefined && revision !== undefined && node.revision !== revision)) return;
    (this.#awaited ??= new Set()).add(key);
  }

  /** Whether reports must wait: the feed is behind a write the process saw confirmed. */
  #held(): boolean {
    return this.#behind || (this.#awaited !== undefined && this.#awaited.size > 0);
  }

  /** Marks the subscribers from index `from` on as possibly moved, and asks for a flush. */
  #changedFrom(from: number): void {
    if (from < this.#subscribers.length && from < this.#dirtyFrom) this.#dirtyFrom = from;
    if (this.#dirtyFrom !== Infinity) this.#request();
  }

  /**
   * Asks for the check of who is next in line and for a flush, unless already asked for. A flush
   * whose turn came while reports were held runs as soon as they no longer are (`resumed`).
   */
  #request(): void {
    this.#requestSoon();
    if (this.#flushRequested) return;
    this.#flushRequested = true;
    if (this.#flushSkipped && !this.#held()) {
      this.#flushSkipped = false;
      (this.schedule.resumed ?? this.schedule.paced)(this.#flush);
    } else this.schedule.paced(this.#flush);
  }

  #requestSoon(): void {
    if (this.#soonRequested) return;
    this.#soonRequested = true;
    this.schedule.soon(this.#tellSoon);
  }

  /**
   * The reports that do not wait for the paced flush, each O(1):
   * - a new subscriber's first position: entering a long queue is no change to anyone else's
   *   position, and a waiter that waits for its first report to know it is in line (the CLI's
   *   `--timeout 0` gives up at it, `--verbose` prints it) should not wait for the pace a busy
   *   queue sets;
   * - the waiter next in line (position 0), if it has not been told: its grant may follow at the
   *   next change, and a waiter must hear that it is next before it holds. It is found from the
   *   front of the queue, O(1) amortized.
   */
  tellSoon(): void {
    this.#soonRequested = false;
    if (this.#held()) return; // asked again once no longer held
    const subscribers = this.#subscribers;
    const admitted = this.#admitted();
    if (this.#newcomers.length > 0) {
      const newcomers = this.#newcomers;
      this.#newcomers = [];
      for (const subscriber of newcomers) this.#report(subscriber, admitted);
    }
    for (let i = this.#skipRemoved(); i < subscribers.length; i++) {
      const subscriber = subscribers[i] as Subscriber;
      const ahead = subscriber.ahead - this.#shift;
      if (subscriber.removed || ahead < admitted) continue; // holders (readers) stay subscribed a moment
      if (ahead === admitted) this.#report(subscriber, admitted);
      return;
    }
  }

  /** Moves #front past the removed subscribers at the front; returns it. O(1) amortized. */
  #skipRemoved(): number {
    const subscribers = this.#subscribers;
    while (this.#front < subscribers.length && (subscribers[this.#front] as Subscriber).removed) this.#front++;
    return this.#front;
  }

  /**
   * Tells every subscriber whose position changed since its last report its position now. Called
   * by the scheduler; a report's callback may subscribe or unsubscribe (an acquire that ends), and
   * anything it changes is marked for the next flush.
   */
  flush(): void {
    this.#flushRequested = false;
    if (this.#held()) {
      this.#flushSkipped = true; // what is marked stays marked: run once no longer held
      return;
    }
    const from = this.#dirtyFrom;
    this.#dirtyFrom = Infinity;
    // Newcomers were marked with the rest: this flush tells them.
    if (this.#newcomers.length > 0) this.#newcomers = [];
    const subscribers = this.#subscribers;
    const end = subscribers.length;
    const admitted = this.#admitted();
    for (let i = Math.max(from, this.#skipRemoved()); i < end; i++) this.#report(subscribers[i] as Subscriber, admitted);
  }

  /**
   * Reports `key`'s position to `report` once the view has the key (at once: see {@link tellSoon}),
   * and after changes that move it (at the next flush); returns the subscription, whose `stop` is called with `true` when the waiter was
   * granted (its last report is then 0, next in line, even if the flush that would have said so
   * has not run yet).
   */
  subscribe(key: string, report: (position: number) => void): Subscription {
    const subscriber = new Subscriber(key, report, this.#unsubscribe);
    this.#subscriberCount++;
    const node = this.#nodes.get(key);
    if (node) this.#attach(subscriber, node, this.#indexOf(node));
    else this.#pending.set(key, subscriber);
    return subscriber;
  }

  /** Calls `callback` whenever a subscription's stop leaves the view with no subscriber. */
  whenEmpty(callback: () => void): void {
    this.#whenEmpty = callback;
  }

  readonly #unsubscribe = (subscriber: Subscriber, admitted: boolean): void => {
    if (!subscriber.removed) {
      // Granted: whatever flush is still to come, its last report says it was next in line.
      if (admitted && subscriber.reported !== 0) this.#tell(subscriber, 0);
      if (subscriber.node) this.#detach(subscriber);
      else {
        this.#pending.delete(subscriber.key);
        subscriber.removed = true;
        this.#subscriberCount--;
      }
    }
    // Also when its key's deletion had already removed it.
    if (this.#subscriberCount === 0) this.#whenEmpty?.();
  };

  /** Keys ahead of `node`, counted back from the tail: a new subscriber's key is near it. */
  #indexOf(node: ViewNode): number {
    let after = 0;
    for (let n = this.#tail; n && n !== node; n = n.prev) after++;
    return this.#nodes.size - 1 - after;
  }

  #attach(subscriber: Subscriber, node: ViewNode, ahead: number): void {
    subscriber.node = node;
    subscriber.ahead = ahead + this.#shift;
    node.subscriber = subscriber;
    // Usually the newest subscriber is the last in queue order; otherwise insert in place.
    const at = this.#firstBehind(node.seq);
    if (at === this.#subscribers.length) this.#subscribers.push(subscriber);
    else this.#subscribers.splice(at, 0, subscriber);
    if (at < this.#front) this.#front = at;
    // Its first report is made soon (a microtask: after the batch that created it and changed
    // the queue ahead of it, so as its end state); marked for the flush too, which says nothing
    // more unless its position changed since.
    this.#newcomers.push(subscriber);
    this.#changedFrom(at);
  }

  #detach(subscriber: Subscriber): void {
    subscriber.removed = true;
    if (subscriber.node) subscriber.node.subscriber = undefined;
    this.#subscriberCount--;
    // Dropped lazily, in one pass once they are half of the array: O(1) amortized.
    if (++this.#removedSubscribers * 2 > this.#subscribers.length) {
      const front = this.#skipRemoved();
      if (front === this.#removedSubscribers) {
        // Every removed one is before #front (grants leave from the front): the rest is copied
        // without reading a subscriber, each read a likely cache miss in a long queue.
        this.#subscribers = this.#subscribers.slice(front);
        if (this.#dirtyFrom !== Infinity) this.#dirtyFrom = Math.max(0, this.#dirtyFrom - front);
      } else {
        this.#subscribers = this.#subscribers.filter((s) => !s.removed);
        // Indices moved: what was marked is somewhere from the start.
        if (this.#dirtyFrom !== Infinity) this.#dirtyFrom = 0;
      }
      this.#removedSubscribers = 0;
      this.#front = 0;
    }
  }

  /** Index of the first subscriber whose key is behind `seq` (binary search). */
  #firstBehind(seq: number): number {
    let low = 0;
    let high = this.#subscribers.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.#subscribers[mid] as Subscriber).node!.seq <= seq) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Tells `subscriber` its position if it changed. */
  #report(subscriber: Subscriber, admitted: number): void {
    const ahead = subscriber.ahead - this.#shift;
    if (subscriber.removed || ahead < admitted) return; // a holder now: the acquire resolves on its own
    const position = ahead - admitted;
    if (position !== subscriber.reported) this.#tell(subscriber, position);
  }

  /** Calls the subscriber's callback; a throwing callback does not break the view. */
  #tell(subscriber: Subscriber, position: number): void {
    subscriber.reported = position;
    try {
      subscriber.report(position);
    } catch {
      // the caller's bug, ignored as an event listener's error would be
    }
  }
}

/** Whether `entry` is a new key under the name of `node` (etcd names can be deleted and created again). */
function isRecreated(node: ViewNode, entry: QueueEntry): boolean {
  return node.revision !== undefined && entry.revision !== undefined && node.revision !== entry.revision;
}

/** A view with its feed, shared by the coordinator's waiters on one prefix. */
interface SharedView {
  readonly view: QueueView;
  readonly stop: AbortController;
}

/** By {@link Backend.followScope}: one view per queue per coordinator, or per scope its coordinators share. */
const views = new WeakMap<object, Map<string, SharedView>>();

/**
 * The live views, by the parent of their keys (a prefix as its backend spells keys): a key this
 * process saw confirmed gone holds the reports of every view that still shows it
 * ({@link confirmedGone}).
 */
const byParent = new Map<string, Set<QueueView>>();

/**
 * A contender key of this process was confirmed gone (released or withdrawn): the views of the
 * process that still show it report nothing until they show its deletion, so that no report
 * made after the removal resolved counts it. O(views of its parent).
 */
export function confirmedGone(key: string, revision: bigint | undefined): void {
  if (byParent.size === 0) return; // no waiter of the process asks for positions
  const views = byParent.get(parentOf(key));
  if (views) for (const view of views) view.confirmedGone(key, revision);
}

/** Registers `shared`'s view for {@link confirmedGone} of keys under `parent`, until its feed stops. */
function hearConfirmedRemovals({ view, stop }: SharedView, parent: string): void {
  let siblings = byParent.get(parent);
  if (!siblings) byParent.set(parent, (siblings = new Set()));
  siblings.add(view);
  stop.signal.addEventListener('abort', () => {
    siblings.delete(view);
    if (siblings.size === 0 && byParent.get(parent) === siblings) byParent.delete(parent);
  });
}

/** Reports paced process-wide (./report-pacing.ts); the waiter next in line is told in a microtask. */
const PACED: Schedule = { paced: requestFlush, soon: inMicrotask, resumed: resumeFlush };

/** A waiter's position reports, as {@link followPosition} starts them. */
export type PositionReports = Subscription;

/**
 * Reports the position of the waiter whose key is `key` under `prefix` to `onQueued`, once the
 * coordinator's view has the key and after every change ahead of it (coalesced, see
 * ./report-pacing.ts), until stopped. Positions count waiters ahead, holders not counted (0 =
 * next in line); the last report before a grant is 0.
 */
export function followPosition(backend: Backend, prefix: string, rule: HeadRule, key: string, onQueued: (position: number) => void): PositionReports {
  const scope = backend.followScope ?? backend;
  let byPrefix = views.get(scope);
  if (!byPrefix) views.set(scope, (byPrefix = new Map()));
  // One view per prefix; the rule is the prefix's recipe's, the same for every waiter on it.
  let shared = byPrefix.get(prefix);
  if (!shared) {
    shared = { view: new QueueView(rule), stop: new AbortController() };
    byPrefix.set(prefix, shared);
    feed(backend, prefix, shared.view, shared.stop.signal);
    // A feed that says itself when it lags a confirmed removal needs no word of them.
    if (!backend.followTellsBehind) hearConfirmedRemovals(shared, parentOf(key));
    const { view, stop } = shared;
    // The last waiter gone: the feed stops, and the next waiter starts a new view.
    const views = byPrefix;
    view.whenEmpty(() => {
      if (views.get(prefix)?.view !== view) return;
      views.delete(prefix);
      stop.abort();
    });
  }
  return shared.view.subscribe(key, onQueued);
}

/** Keeps `view` up to date until `signal` aborts. */
function feed(backend: Backend, prefix: string, view: QueueView, signal: AbortSignal): void {
  if (backend.followPrefix) {
    backend.followPrefix(prefix, signal, {
      created: (entry) => view.created(entry),
      deleted: (key) => view.deleted(key),
      reset: (entries) => view.reset(entries),
      behind: () => view.behind(),
      caughtUp: () => view.caughtUp(),
    });
    return;
  }
  void (async () => {
    let pause = 50;
    while (!signal.aborted) {
      try {
        const watched = await backend.watchPrefix(prefix, signal);
        view.reset(watched.current);
        pause = 50;
        await watched.changed;
      } catch {
        if (signal.aborted) return;
        // Positions are reports only: a failing backend delays them, it fails no acquire.
        await new Promise((resolve) => setTimeout(resolve, pause).unref());
        pause = Math.min(pause * 2, 2000);
      }
    }
  })();
}
