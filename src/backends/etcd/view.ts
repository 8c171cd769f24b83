/**
 * A local, ordered view of the keys directly under one prefix, kept current by ONE etcd watch.
 *
 * The watch is created from "now" (never from an older revision, which etcd serves from a loop
 * that runs every 100 ms), then the prefix is read; events after the read's revision are applied
 * in order. The view is therefore always the prefix's exact state at some revision, never older
 * than any state the coordinators sharing it have read or written (see {@link PrefixView.offerSnapshot}
 * and {@link PrefixView.raiseFloor}).
 *
 * One view serves every wait on its prefix: a predecessor's deletion, an own key's loss, a
 * leader's value change, a membership change. A release is one delete on the server and one event
 * here; nothing polls.
 *
 * A view is shared by every coordinator of the process that uses the same connection and
 * namespace (./view-registry.ts): each wait and each own key is registered with its
 * {@link ViewOwner}, so a vanished own key is reported to the coordinator that created it alone,
 * and a coordinator that closes ends its own waits and no one else's.
 * @module
 */
import { ClosedError } from '../../errors.js';
import { abortable } from '../abortable.js';
import { byRevision } from '../key-paths.js';
import type { KeySpace } from './keys.js';
import { rangeEnd } from './keys.js';
import type { EtcdClient } from './transport/client.js';
import { isRetryable } from './transport/endpoints.js';
import type { KeyValue, WatchEvent } from './transport/messages.js';
import type { Watch } from './transport/watch-stream.js';

/** One key of the view. */
export interface ViewEntry {
  /** Logical key (namespace stripped). */
  readonly key: string;
  /** Create revision: the fencing token of a hold on this key. */
  readonly revision: bigint;
  readonly modRevision: bigint;
  readonly value: string;
  /**
   * Whether the key has a lease: a contender (Baton's, Go's, etcdctl's). A key without one is a
   * plain key (a value, a guarded write's data) that happens to sit under the prefix: it can be
   * watched, but it is no member of the queue.
   */
  readonly leased: boolean;
}

/** A full read of a prefix at one revision. */
export interface Snapshot {
  readonly revision: bigint;
  readonly kvs: readonly KeyValue[];
}

/** What a view needs from the connection it watches through. */
export interface ViewHost {
  readonly keys: KeySpace;
  readonly client: EtcdClient;
  /** Reads every key under `<prefix>/` from the server. */
  range(prefix: string): Promise<Snapshot>;
  /** Turns a refusal from etcd into the error waits reject with. */
  explain(error: unknown, what: string): unknown;
}

/** The coordinator a wait or an own key of a shared view belongs to. */
export interface ViewOwner {
  /** A key this coordinator created under the prefix vanished without it deleting it. */
  ownKeyVanished(key: string): void;
}

/** Receives a view's membership changes (see {@link PrefixView.follow}). */
export interface MembershipFollower {
  reset(entries: readonly ViewEntry[]): void;
  created(entry: ViewEntry): void;
  deleted(key: string): void;
  /** What was told is older than a write of this process (a floor): report nothing of it. */
  behind?(): void;
  /** The view has shown that write (after telling the changes up to it). */
  caughtUp?(): void;
}

interface Waiter {
  /** Returns true when the wait is over (it is then removed). */
  check(): boolean;
  fail(error: unknown): void;
  /** The one key whose changes alone can end the wait; undefined: any change may. */
  readonly on: string | undefined;
  /** Set once the wait is removed: a check still queued for it is skipped. */
  settled: boolean;
  /** The coordinator that armed it: its closing ends the wait. */
  readonly owner: ViewOwner;
}

/** Where a key stands in a view: the head of the queue and the contender just ahead of it. */
export interface ViewStanding {
  readonly present: boolean;
  readonly head: ViewEntry | undefined;
  readonly predecessor: ViewEntry | undefined;
}

const ABSENT: ViewStanding = { present: false, head: undefined, predecessor: undefined };

/**
 * Creation order, and key order between keys created by one transaction (as a listing sorted by
 * creation revision shows them: etcd returns a range in key order).
 */
function inQueueOrder(a: ViewEntry, b: ViewEntry): number {
  return byRevision(a, b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

const NOTHING_TO_STOP = (): void => {};

/** A membership change held for the followers: a creation (with its entry) or a deletion. */
interface HeldChange {
  readonly key: string;
  readonly entry: ViewEntry | undefined;
}

/** Pause before reading again after a read that found no member serving. */
const REREAD_DELAY_MS = 100;

export class PrefixView {
  readonly prefix: string;
  readonly #host: ViewHost;
  readonly #start: Buffer;
  #entries = new Map<string, ViewEntry>();
  /**
   * The contender (leased) entries in creation order, kept as events arrive: a new key has the
   * highest create revision so far and is appended; a deletion is found by binary search. Where a
   * key stands is then O(log N) wherever it is in the queue (the newest key's, on entering, too).
   */
  #queue: ViewEntry[] = [];
  /**
   * Where the queue starts in {@link #queue}: the head's leaving (a release, the common case)
   * moves it on in O(1); the slots before it are dropped once they are half of the array.
   */
  #first = 0;
  /** A copy of {@link #queue} handed out by {@link entries}, made again after a change. */
  #ordered: ViewEntry[] | undefined;
  /** The revision the view is exact at; -1 before the first snapshot. */
  #revision = -1n;
  /**
   * The view must reach this revision before it may answer reads: the writes under the prefix
   * that the coordinators sharing the view saw confirmed.
   */
  #floor = 0n;
  /**
   * The view must reach this revision, and {@link #floor}, before it tells its followers anything:
   * writes under the prefix that coordinators of this process on other connections saw confirmed
   * (./process-writes.ts).
   */
  #reportFloor = 0n;
  /** Membership changes applied but not yet told to the followers (the view is behind a floor). */
  #held: HeldChange[] = [];
  /** Followers to be given the whole membership when next told (new, or the view was read again). */
  #resetting = new Set<MembershipFollower>();
  /** Whether the followers were told they are {@link MembershipFollower.behind} and not yet caught up. */
  #followersBehind = false;
  #watchRevision: bigint | undefined;
  #candidate: Snapshot | undefined;
  #pending: (readonly WatchEvent[])[] = [];
  /**
   * Pending waits on one key, by that key: an event checks only the waits on the keys it
   * changed, so a handoff costs each waiter nothing, not a check per waiter.
   */
  readonly #waitsOn = new Map<string, Set<Waiter>>();
  /** Pending waits on the whole prefix (a membership change, the view becoming current): checked on every change. */
  readonly #anyChange = new Set<Waiter>();
  /**
   * Waits on one key not yet checked on a current view since their key last changed (it changed,
   * or they were armed, while the view was behind its coordinators' writes): checked once it is current.
   */
  readonly #deferred = new Set<Waiter>();
  #watch: Watch | undefined;
  /** Counts watch (re)starts, so that a read answering an older start is ignored. */
  #generation = 0;
  #rereadTimer: NodeJS.Timeout | undefined;
  #failure: unknown;
  /**
   * Keys created here by the coordinators sharing the view and not deleted by them, each with
   * its creator: a disappearance is reported to that coordinator alone.
   */
  readonly own = new Map<string, ViewOwner>();
  /**
   * The creation revisions of own keys added without a read of the prefix that shows them (an
   * enqueue that read only its standing): a read older than that is no sign they vanished.
   */
  readonly #ownCreated = new Map<string, bigint>();
  /** Told of every membership change (queue positions), see {@link follow}. */
  readonly #followers = new Set<MembershipFollower>();
  /** Wait conditions evaluated so far (tests count them: a change must not re-check every wait). */
  checks = 0;
  /** Pending waits using the view. */
  refs = 0;
  lingerTimer: NodeJS.Timeout | undefined;
  /** performance.now() when the view was last left unused; undefined while in use. */
  idleSince: number | undefined;

  constructor(host: ViewHost, prefix: string) {
    this.#host = host;
    this.prefix = prefix;
    this.#start = host.keys.full(`${prefix}/`);
    this.#startWatch();
  }

  /** Set once the watch failed or the view was closed: the view must not be used any more. */
  get failure(): unknown {
    return this.#failure;
  }

  #startWatch(): void {
    const start = this.#start;
    this.#watch = this.#host.client.watches.watch(start, rangeEnd(start), {
      created: (revision) => this.#created(revision),
      events: (events) => this.#onEvents(events),
      restarting: () => this.#restarting(),
      refused: (error) => this.#fail(this.#host.explain(error, `watching ${this.prefix}/`)),
    });
  }

  /** The watch is live from `revision`: the view is exact once a read at or after it arrives. */
  #created(revision: bigint): void {
    if (this.#failure !== undefined) return;
    this.#watchRevision = revision;
    const candidate = this.#candidate;
    this.#candidate = undefined;
    if (candidate && candidate.revision >= revision) this.#applySnapshot(candidate);
    else this.#readServer();
  }

  /**
   * The watch stopped (its stream broke, its member failed, or the server cancelled it) and is
   * being created again from now. Nothing it would have delivered meanwhile is recoverable from
   * it, so the view starts over: the new watch, then a fresh read. Waits pause until then and are
   * decided on the fresh state (a key deleted meanwhile is gone).
   */
  #restarting(): void {
    if (this.#failure !== undefined) return;
    this.#generation++;
    clearTimeout(this.#rereadTimer);
    this.#watchRevision = undefined;
    this.#candidate = undefined;
    this.#pending = [];
    this.#revision = -1n;
    this.#noteBehind();
  }

  #readServer(): void {
    const generation = this.#generation;
    this.#host.range(this.prefix).then(
      (snapshot) => {
        if (generation === this.#generation) this.offerSnapshot(snapshot);
      },
      (error) => {
        if (generation !== this.#generation || this.#failure !== undefined) return;
        if (!isRetryable(error) && !isRetryable((error as Error)?.cause)) {
          this.#fail(error);
          return;
        }
        // No member serving right now: read again shortly (the watch restarts if its stream breaks).
        this.#rereadTimer = setTimeout(() => {
          if (generation === this.#generation && this.#failure === undefined) this.#readServer();
        }, REREAD_DELAY_MS);
      },
    );
  }

  /**
   * Offers a read of the whole prefix (from a list or an enqueue transaction). Applied when it is
   * newer than the view, so the view never lags what its coordinators have seen.
   */
  offerSnapshot(snapshot: Snapshot): void {
    if (this.#failure !== undefined) return;
    if (this.#revision >= 0n) {
      if (snapshot.revision > this.#revision) this.#applySnapshot(snapshot);
      return;
    }
    if (this.#watchRevision === undefined) {
      // The watch is not created yet: keep the newest read; it is usable if the watch starts at or before it.
      if (!this.#candidate || snapshot.revision > this.#candidate.revision) this.#candidate = snapshot;
      return;
    }
    if (snapshot.revision >= this.#watchRevision) this.#applySnapshot(snapshot);
  }

  /**
   * The adapter created `key` at `revision` without reading the whole prefix: waits answer only
   * once the view has reached that revision, and a read older than it does not count the key
   * as vanished.
   */
  addOwn(key: string, revision: bigint, owner: ViewOwner): void {
    this.raiseFloor(revision);
    this.own.set(key, owner);
    this.#ownCreated.set(key, revision);
  }

  /** `owner` created `key`, and a read of the prefix offered to the view shows it. */
  addListedOwn(key: string, owner: ViewOwner): void {
    this.own.set(key, owner);
  }

  /** Stops counting `key` as own (its creator deleted it, or its session ended); whether it was. */
  forgetOwn(key: string): boolean {
    this.#ownCreated.delete(key);
    return this.own.delete(key);
  }

  /** A coordinator sharing the view wrote under this prefix at `revision`: reads wait until the watch has shown it. */
  raiseFloor(revision: bigint): void {
    if (revision > this.#floor) this.#floor = revision;
    this.#noteBehind();
  }

  /**
   * A coordinator of this process on another connection wrote under this prefix at `revision`:
   * the followers (queue positions) are told nothing more until the watch has shown it. Waits are
   * not held: they depend on their own coordinator's keys only.
   */
  raiseReportFloor(revision: bigint): void {
    if (revision > this.#reportFloor) this.#reportFloor = revision;
    this.#noteBehind();
  }

  /**
   * Tells the followers, once, that what they were told is older than a floor now (they report
   * on a timer, and must not report it): {@link #tellFollowers} says when they have caught up.
   */
  #noteBehind(): void {
    if (this.#followersBehind || this.#followers.size === 0 || this.#reportable) return;
    this.#followersBehind = true;
    for (const follower of this.#followers) follower.behind?.();
  }

  /** Whether the followers may be told the view's state: it is at or after every write this process saw confirmed. */
  get #reportable(): boolean {
    return this.current && this.#revision >= this.#reportFloor;
  }

  /**
   * Tells the followers what changed since they were last told, once the view may be reported:
   * the whole membership to those to be reset, the held changes in order to the others.
   */
  #tellFollowers(): void {
    if (!this.#reportable) return;
    const held = this.#held;
    const resetting = this.#resetting;
    if (held.length > 0 || resetting.size > 0) {
      this.#held = [];
      if (resetting.size > 0) this.#resetting = new Set();
      let entries: readonly ViewEntry[] | undefined;
      for (const follower of [...this.#followers]) {
        if (resetting.has(follower)) follower.reset((entries ??= this.entries()));
        else for (const change of held) change.entry ? follower.created(change.entry) : follower.deleted(change.key);
      }
    }
    if (this.#followersBehind) {
      this.#followersBehind = false;
      for (const follower of [...this.#followers]) follower.caughtUp?.();
    }
  }

  #applySnapshot(snapshot: Snapshot): void {
    const entries = new Map<string, ViewEntry>();
    for (const kv of snapshot.kvs) {
      const entry = this.#entryOf(kv);
      if (entry) entries.set(entry.key, entry);
    }
    const vanished = [...this.own.keys()].filter((key) => !entries.has(key) && (this.#ownCreated.get(key) ?? 0n) <= snapshot.revision);
    this.#entries = entries;
    this.#queue = [...entries.values()].filter((entry) => entry.leased).sort(inQueueOrder);
    this.#first = 0;
    this.#ordered = undefined;
    this.#revision = snapshot.revision;
    const pending = this.#pending;
    this.#pending = [];
    for (const events of pending) this.#applyEvents(events, false);
    for (const key of vanished) this.#ownGone(key);
    if (this.#followers.size > 0) {
      this.#held = [];
      this.#resetting = new Set(this.#followers);
      this.#tellFollowers();
    }
    this.#checkAll();
  }

  #onEvents(events: readonly WatchEvent[]): void {
    if (this.#failure !== undefined) return;
    if (this.#revision < 0n) {
      this.#pending.push(events);
      return;
    }
    const changed = this.#applyEvents(events, this.#followers.size > 0);
    this.#checkChanged(changed);
  }

  /**
   * Applies events after the view's revision; `tell`: report membership changes to the followers.
   * Returns the keys changed (a batch may hold many: a revoked lease deletes all its keys at once).
   */
  #applyEvents(events: readonly WatchEvent[], tell: boolean): Set<string> {
    const changed = new Set<string>();
    const base = this.#revision;
    let revision = base;
    for (const event of events) {
      const eventRevision = event.kv.modRevision;
      if (eventRevision <= base) continue;
      if (eventRevision > revision) revision = eventRevision;
      const key = this.#childKey(event.kv.key);
      if (key === undefined) continue;
      this.#ordered = undefined;
      changed.add(key);
      const existed = this.#entries.get(key);
      if (existed?.leased) this.#dequeue(existed);
      if (event.type === 'put') {
        const entry = this.#entryOf(event.kv) as ViewEntry;
        this.#entries.set(key, entry);
        if (entry.leased) this.#enqueue(entry);
        if (tell && !existed && entry.leased) this.#held.push({ key, entry });
      } else {
        this.#entries.delete(key);
        if (this.own.has(key)) this.#ownGone(key);
        if (tell && existed?.leased) this.#held.push({ key, entry: undefined });
      }
    }
    this.#revision = revision;
    if (tell) this.#tellFollowers();
    return changed;
  }

  /** Puts a contender entry in its place in {@link #queue}: at the end, for a key just created. */
  #enqueue(entry: ViewEntry): void {
    const queue = this.#queue;
    const last = queue.length > this.#first ? queue[queue.length - 1] : undefined;
    if (last === undefined || inQueueOrder(last, entry) < 0) queue.push(entry);
    else queue.splice(this.#place(entry), 0, entry);
  }

  /** Takes a contender entry out of {@link #queue}. */
  #dequeue(entry: ViewEntry): void {
    const queue = this.#queue;
    if (queue[this.#first] === entry) {
      // The head leaves most often (a release): no search, no copy (splice(0, 1) copied the whole
      // array: 80 us per call with 10,000 keys).
      this.#first++;
      if (this.#first === queue.length) {
        this.#queue = [];
        this.#first = 0;
      } else if (this.#first > 64 && this.#first * 2 > queue.length) {
        this.#queue = queue.slice(this.#first);
        this.#first = 0;
      }
      return;
    }
    const at = this.#place(entry);
    if (queue[at] === entry) queue.splice(at, 1);
  }

  /** The index of the first queue entry not before `entry` (binary search). */
  #place(entry: ViewEntry): number {
    const queue = this.#queue;
    let low = this.#first;
    let high = queue.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (inQueueOrder(queue[middle] as ViewEntry, entry) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  #ownGone(key: string): void {
    const owner = this.own.get(key);
    this.own.delete(key);
    this.#ownCreated.delete(key);
    owner?.ownKeyVanished(key);
  }

  /** The logical key when `full` is directly under the prefix, else undefined. */
  #childKey(full: Buffer): string | undefined {
    if (full.length <= this.#start.length || full.indexOf(0x2f, this.#start.length) >= 0) return undefined;
    return this.#host.keys.logical(full);
  }

  #entryOf(kv: KeyValue): ViewEntry | undefined {
    const key = this.#childKey(kv.key);
    if (key === undefined) return undefined;
    return { key, revision: kv.createRevision, modRevision: kv.modRevision, value: kv.value.toString(), leased: kv.lease !== 0n };
  }

  /** Checks one wait (unless it ended meanwhile), removing it when it is over. */
  #run(waiter: Waiter): void {
    if (waiter.settled) return;
    this.checks++;
    let done: boolean;
    try {
      done = waiter.check();
    } catch (error) {
      waiter.fail(error);
      done = true;
    }
    if (done) this.#remove(waiter);
  }

  /** Checks every wait: after a fresh read, which may differ from the view anywhere (rare). */
  #checkAll(): void {
    this.#deferred.clear();
    const keyed = [...this.#waitsOn.values()].flatMap((waits) => [...waits]);
    if (this.current) for (const waiter of keyed) this.#run(waiter);
    else for (const waiter of keyed) this.#deferred.add(waiter);
    for (const waiter of [...this.#anyChange]) this.#run(waiter);
  }

  /** Checks the waits events may have ended: those on the `changed` keys, and those on any change. */
  #checkChanged(changed: ReadonlySet<string>): void {
    if (!this.current) {
      // Decided once the view has caught up with its coordinators' writes (every wait needs that).
      for (const key of changed) for (const waiter of this.#waitsOn.get(key) ?? []) this.#deferred.add(waiter);
      return;
    }
    if (this.#deferred.size > 0) {
      const deferred = [...this.#deferred];
      this.#deferred.clear();
      for (const waiter of deferred) this.#run(waiter);
    }
    for (const key of changed) {
      const waits = this.#waitsOn.get(key);
      if (waits) for (const waiter of [...waits]) this.#run(waiter);
    }
    if (this.#anyChange.size > 0) for (const waiter of [...this.#anyChange]) this.#run(waiter);
  }

  /** Arms `waiter`, already checked once and not over. */
  #add(waiter: Waiter): void {
    if (waiter.on === undefined) {
      this.#anyChange.add(waiter);
      return;
    }
    let waits = this.#waitsOn.get(waiter.on);
    if (!waits) this.#waitsOn.set(waiter.on, (waits = new Set()));
    waits.add(waiter);
    // Its first check found the view behind: check it again once the view is current.
    if (!this.current) this.#deferred.add(waiter);
  }

  /** Removes `waiter` in O(1): it is over, aborted or stopped. */
  #remove(waiter: Waiter): void {
    if (waiter.settled) return;
    waiter.settled = true;
    if (waiter.on === undefined) {
      this.#anyChange.delete(waiter);
      return;
    }
    const waits = this.#waitsOn.get(waiter.on);
    if (waits?.delete(waiter) && waits.size === 0) this.#waitsOn.delete(waiter.on);
    this.#deferred.delete(waiter);
  }

  #fail(error: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    clearTimeout(this.#rereadTimer);
    this.#watch?.cancel();
    const waiters = [...this.#anyChange, ...[...this.#waitsOn.values()].flatMap((waits) => [...waits])];
    this.#anyChange.clear();
    this.#waitsOn.clear();
    this.#deferred.clear();
    for (const waiter of waiters) {
      waiter.settled = true;
      waiter.fail(error);
    }
  }

  /**
   * `owner` closed: its pending waits reject with `error` and its own keys are forgotten; every
   * other coordinator's waits go on.
   */
  leave(owner: ViewOwner, error: unknown): void {
    for (const [key, of] of this.own) if (of === owner) this.forgetOwn(key);
    const waiters = [...this.#anyChange, ...[...this.#waitsOn.values()].flatMap((waits) => [...waits])].filter((waiter) => waiter.owner === owner);
    for (const waiter of waiters) {
      this.#remove(waiter);
      waiter.fail(error);
    }
  }

  /** Stops the watch; pending waits reject with a ClosedError. */
  close(): void {
    clearTimeout(this.lingerTimer);
    this.#fail(new ClosedError('the coordinator was closed'));
  }

  /** Whether the view is exact at a revision at or after every write of its coordinators under it. */
  get current(): boolean {
    return this.#revision >= 0n && this.#revision >= this.#floor;
  }

  /**
   * Resolves once `condition` holds on a current view: checked now and after every change, or,
   * given `on`, only after the changes of that key (then `condition` must depend on no other
   * key: it is not checked when the others change). Rejects with the signal's reason, or the
   * watch's failure, or a ClosedError when `owner` closes.
   */
  until(condition: () => boolean, signal: AbortSignal, owner: ViewOwner, on?: string): Promise<void> {
    return abortable<void>(signal, (resolve, reject) => {
      if (this.#failure !== undefined) {
        reject(this.#failure);
        return () => {};
      }
      const waiter: Waiter = {
        check: () => {
          if (!this.current || !condition()) return false;
          resolve();
          return true;
        },
        fail: reject,
        on,
        settled: false,
        owner,
      };
      if (waiter.check()) return () => {};
      this.#add(waiter);
      return () => this.#remove(waiter);
    });
  }

  /**
   * Calls `gone` once `key` (created at `revision`) is absent from the view, or present with
   * another creation revision, at a current state; or `failed` when the view fails first.
   * Returns the stop. {@link until} without its promise and abort signal: every hold's own-key
   * watch is one, armed and stopped once per acquire. `gone` may be called before this returns.
   */
  watchGone(key: string, revision: bigint, owner: ViewOwner, gone: () => void, failed: (error: unknown) => void): () => void {
    if (this.#failure !== undefined) {
      failed(this.#failure);
      return NOTHING_TO_STOP;
    }
    const waiter: Waiter = {
      check: () => {
        if (!this.current) return false;
        const entry = this.#entries.get(key);
        if (entry !== undefined && entry.revision === revision) return false;
        gone();
        return true;
      },
      fail: failed,
      on: key,
      settled: false,
      owner,
    };
    if (waiter.check()) return NOTHING_TO_STOP;
    this.#add(waiter);
    return () => this.#remove(waiter);
  }

  /**
   * Tells `follower` of the membership: the whole of it once the view is exact (at once if it is),
   * again after every resynchronisation (a restarted watch), and each creation and deletion in
   * between, in order. Returns the unsubscribe. O(1) per change per follower.
   */
  follow(follower: MembershipFollower): () => void {
    this.#followers.add(follower);
    // Told it has caught up along with its first reset: it may come from a failed view that left
    // it behind.
    this.#followersBehind = true;
    if (this.#revision >= 0n) {
      this.#resetting.add(follower);
      this.#tellFollowers();
    }
    return () => {
      this.#followers.delete(follower);
      this.#resetting.delete(follower);
      if (this.#followers.size === 0) this.#held = [];
    };
  }

  /**
   * Where `key` (created at `revision`) stands: the head of the queue and the contender just
   * ahead of it, by binary search in the creation order: O(log N) wherever the key is. Meaningful
   * only while the view is {@link current}.
   */
  standingOf(key: string, revision: bigint): ViewStanding {
    const entry = this.#entries.get(key);
    if (!entry?.leased || entry.revision !== revision) return ABSENT;
    const at = this.#place(entry);
    return { present: true, head: this.#queue[this.#first], predecessor: at > this.#first ? this.#queue[at - 1] : undefined };
  }

  /** The queue: the contender keys in creation order (lowest create revision first). */
  entries(): readonly ViewEntry[] {
    this.#ordered ??= this.#queue.slice(this.#first);
    return this.#ordered;
  }

  get(key: string): ViewEntry | undefined {
    return this.#entries.get(key);
  }
}
