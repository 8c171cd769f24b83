/**
 * The state of the embedded backend: one store per process, shared by every coordinator connected
 * to `memory://`, as the clients of one server share it. Keys, a store-wide revision counter,
 * sessions that own ephemeral keys, and watchers. Counts operations and wake-ups for tests.
 * @module
 */
import type { KeyState, PrefixFollower, QueueEntry, Role, ScannedKey, Standing } from '../contract.js';
import { byRevision, parentOf } from '../key-paths.js';

interface StoredKey {
  readonly key: string;
  value: string;
  revision: bigint;
  /** Owning session id, for ephemeral keys. */
  owner: string | undefined;
  role: Role;
  /** Wall-clock creation time, for status reports. */
  createdAt: number;
  /** The store revision of the last write (creation included): a plain key's version. */
  modRevision: bigint;
  /** Its neighbours under the same parent, in creation order (see {@link Siblings}). */
  prev: StoredKey | undefined;
  next: StoredKey | undefined;
  /** Its owner's own-key watch, if armed (see {@link MemoryStore.watchDeletion}). */
  onDeleted: Listener | undefined;
}

/**
 * The keys directly under one prefix, linked in creation order: a listing walks them, and a
 * key's standing (the head, the key just ahead) is read in O(1) whatever the queue's length.
 */
interface Siblings {
  readonly byKey: Map<string, StoredKey>;
  head: StoredKey | undefined;
  tail: StoredKey | undefined;
}

/** Operation and wake-up counts, as `MemoryBackend.stats()` reports them. */
export interface MemoryStats {
  /** Round trips by operation name, as a networked backend would make them. */
  operations: Record<string, number>;
  /** Waits and watches that fired because of a change (the waiters a change woke). */
  wakeups: number;
  /**
   * Keys handed out by listings and standings (what a networked backend would send back): an
   * enqueue or a wake-up that lists a queue of N keys reads N, one that reads a standing 3 at most.
   */
  keysRead: number;
}

/** A one-shot change callback. */
export type Listener = () => void;

const ROLE_IN_KEY = /-(lock|latch|lease|read|write)-\d+$/;

/** The process-wide store behind `memory://`. */
export class MemoryStore {
  #revision = 0n;
  #keys = new Map<string, StoredKey>();
  #sessionKeys = new Map<string, Set<string>>();
  #keyListeners = new Map<string, Listeners>();
  #prefixListeners = new Map<string, Listeners>();
  /** Keys by parent prefix, in creation (revision) order: a listing reads its prefix only. */
  #children = new Map<string, Siblings>();
  /** Incremental followers of a prefix's membership (queue positions). */
  #followers = new Map<string, Set<PrefixFollower>>();
  /** Scans' watches: fired by any change at any depth below their prefix. Few (dashboards). */
  #treeListeners = new Set<{ readonly prefix: string; readonly listener: Listener }>();
  #operations: Record<string, number> = {};
  #wakeups = 0;
  #keysRead = 0;
  #nextSession = 0x1000;
  #nextKey = 0;

  /** A copy of the counters. */
  stats(): MemoryStats {
    return { operations: { ...this.#operations }, wakeups: this.#wakeups, keysRead: this.#keysRead };
  }

  /** Counts one round trip of `operation`. */
  count(operation: string): void {
    this.#operations[operation] = (this.#operations[operation] ?? 0) + 1;
  }

  newSessionId(): string {
    const id = (this.#nextSession++).toString(16);
    this.#sessionKeys.set(id, new Set());
    return id;
  }

  /** Deletes every key the session owns (it ended or expired). */
  endSession(id: string): void {
    const keys = this.#sessionKeys.get(id);
    this.#sessionKeys.delete(id);
    for (const key of keys ?? []) this.delete(key);
  }

  /** A new contender key name under `prefix` for `session`, never used before; it encodes the role. */
  newKeyName(prefix: string, session: string, role: Role): string {
    // Joined, not a template: a template makes a rope of its parts that V8 flattens on first use
    // into a second string, and both stay alive with the key (32 bytes more per waiting key).
    return [prefix, '/', session, '-', role, '-', this.#nextKey++].join('');
  }

  /** Creates the ephemeral key `key` (from {@link newKeyName}) for `session`; returns its revision. */
  createEphemeral(key: string, session: string, role: Role, value: string): bigint {
    const owned = this.#sessionKeys.get(session);
    if (!owned) throw new Error(`memory session ${session} has ended`);
    const revision = ++this.#revision;
    this.#add({ key, value, revision, owner: session, role, createdAt: Date.now(), modRevision: revision, prev: undefined, next: undefined, onDeleted: undefined });
    owned.add(key);
    const parent = parentOf(key);
    this.#notify(key, parent);
    const followers = this.#followersOf(parent);
    if (followers) for (const follower of followers) follower.created({ key, role });
    return revision;
  }

  /** Sets a plain (non-ephemeral) key, as a guarded write does. */
  put(key: string, value: string): void {
    const existing = this.#keys.get(key);
    const revision = ++this.#revision;
    if (existing) (existing.value = value), (existing.modRevision = revision);
    else this.#add({ key, value, revision, owner: undefined, role: 'lock', createdAt: Date.now(), modRevision: revision, prev: undefined, next: undefined, onDeleted: undefined });
    this.#notify(key, parentOf(key), !existing);
  }

  get(key: string): KeyState | undefined {
    const stored = this.#keys.get(key);
    return stored && { value: stored.value, revision: stored.revision, createdAt: stored.createdAt };
  }

  /** A key's value with the revision of its last write (a plain key's version). */
  readValue(key: string): { value: string; revision: bigint } | undefined {
    const stored = this.#keys.get(key);
    return stored && { value: stored.value, revision: stored.modRevision };
  }

  revisionOf(key: string): bigint | undefined {
    return this.#keys.get(key)?.revision;
  }

  update(key: string, value: string): void {
    const stored = this.#keys.get(key);
    if (!stored) return;
    stored.value = value;
    stored.modRevision = ++this.#revision;
    this.#fireTree(key);
    this.#fire(this.#keyListeners, key);
  }

  delete(key: string): boolean {
    const stored = this.#keys.get(key);
    if (!stored) return false;
    this.#keys.delete(key);
    const parent = parentOf(key);
    const siblings = this.#children.get(parent);
    // A plain key was never linked into its parent's queue.
    if (siblings?.byKey.delete(key)) {
      if (stored.prev) stored.prev.next = stored.next;
      else siblings.head = stored.next;
      if (stored.next) stored.next.prev = stored.prev;
      else siblings.tail = stored.prev;
      stored.prev = stored.next = undefined;
      if (siblings.byKey.size === 0) this.#children.delete(parent);
    }
    if (stored.owner) this.#sessionKeys.get(stored.owner)?.delete(key);
    // The owner hears first, before any wait on the key: a wake-up never hides a vanished own key.
    const onDeleted = stored.onDeleted;
    stored.onDeleted = undefined;
    if (onDeleted) {
      this.#wakeups++;
      onDeleted();
    }
    this.#notify(key, parent);
    const followers = stored.owner ? this.#followersOf(parent) : undefined;
    if (followers) for (const follower of followers) follower.deleted(key);
    return true;
  }

  /** Keys directly under `prefix`, lowest revision first: read from the prefix's own index. */
  list(prefix: string): QueueEntry[] {
    const found: QueueEntry[] = [];
    // Revisions are given at insertion, so insertion order is revision order.
    for (let stored = this.#children.get(prefix)?.head; stored; stored = stored.next) found.push(entryOf(stored));
    this.#keysRead += found.length;
    return found;
  }

  /** Where `key` (created at `revision`) stands under `prefix`: O(1), from the prefix's links. */
  standing(prefix: string, key: string, revision: bigint): Standing {
    const siblings = this.#children.get(prefix);
    const stored = siblings?.byKey.get(key);
    if (!siblings || !stored || stored.revision !== revision) return { present: false, head: undefined, predecessor: undefined };
    const head = siblings.head as StoredKey;
    this.#keysRead += stored.prev && stored.prev !== head ? 3 : stored.prev ? 2 : 1;
    return { present: true, head: entryOf(head), predecessor: stored.prev && entryOf(stored.prev) };
  }

  /**
   * Tells `follower` of every later creation and deletion directly under `prefix`, in order;
   * returns the unsubscribe. Each call counts as a wake-up.
   */
  follow(prefix: string, follower: PrefixFollower): () => void {
    let set = this.#followers.get(prefix);
    if (!set) this.#followers.set(prefix, (set = new Set()));
    set.add(follower);
    return () => {
      const current = this.#followers.get(prefix);
      current?.delete(follower);
      if (current?.size === 0) this.#followers.delete(prefix);
    };
  }

  #add(stored: StoredKey): void {
    const key = stored.key;
    this.#keys.set(key, stored);
    // Only contenders queue: a plain key under a name (a guarded write's `NAME/state`) is no
    // member of NAME's queue, or the next contender would wait for it for ever.
    if (stored.owner === undefined) return;
    const parent = parentOf(key);
    let siblings = this.#children.get(parent);
    if (!siblings) this.#children.set(parent, (siblings = { byKey: new Map(), head: undefined, tail: undefined }));
    siblings.byKey.set(key, stored);
    // The newest revision: always the tail.
    stored.prev = siblings.tail;
    if (siblings.tail) siblings.tail.next = stored;
    else siblings.head = stored;
    siblings.tail = stored;
  }

  /**
   * The followers of `prefix` to tell of a change, each counted as a wake-up. A copy when there
   * are several, since one may stop following while told; usually there is one (a process's
   * memory coordinators share one view per queue), told without a copy or a closure per change.
   */
  #followersOf(prefix: string): Iterable<PrefixFollower> | undefined {
    const set = this.#followers.get(prefix);
    if (!set) return undefined;
    this.#wakeups += set.size;
    return set.size === 1 ? set : [...set];
  }

  /** Every ephemeral key at any depth below `prefix` (`''`: all), for monitoring. */
  scan(prefix: string): ScannedKey[] {
    const start = prefix === '' ? '' : `${prefix}/`;
    const found: ScannedKey[] = [];
    for (const [key, stored] of this.#keys) {
      if (!stored.owner || !key.startsWith(start)) continue;
      found.push({
        key,
        parent: parentOf(key),
        role: roleOf(key, stored),
        revision: stored.revision,
        value: stored.value,
        session: stored.owner,
        createdAt: stored.createdAt,
      });
    }
    return found.sort(byRevision);
  }

  /** Calls `listener` once at the next change at any depth below `prefix`; returns the unsubscribe. */
  onTreeChange(prefix: string, listener: Listener): () => void {
    const entry = { prefix: prefix === '' ? '' : `${prefix}/`, listener };
    this.#treeListeners.add(entry);
    return () => this.#treeListeners.delete(entry);
  }

  /** Calls `listener` once at the next update or deletion of `key`; returns the unsubscribe. */
  onKeyChange(key: string, listener: Listener): () => void {
    return subscribe(this.#keyListeners, key, listener);
  }

  /**
   * {@link onKeyChange} without making an unsubscribe function: {@link offKeyChange} takes the
   * listener back. For the waits every waiter keeps (a closure is some 100 bytes of heap).
   */
  listenToKey(key: string, listener: Listener): void {
    add(this.#keyListeners, key, listener);
  }

  /** Drops `listener` from `key`'s listeners, if it is still there. */
  offKeyChange(key: string, listener: Listener): void {
    remove(this.#keyListeners, key, listener);
  }

  /**
   * Calls `listener` once when the key `key` created at `revision` is deleted (not when its value
   * changes), before any other listener of the key; returns false, and never calls it, when that
   * key is gone already. One per key: its owner's own-key watch, kept in the key itself, so a
   * waiter's key costs no listener entry and shares none with the wait of the waiter behind it.
   */
  watchDeletion(key: string, revision: bigint, listener: Listener): boolean {
    const stored = this.#keys.get(key);
    if (!stored || stored.revision !== revision) return false;
    stored.onDeleted = listener;
    return true;
  }

  /** Stops the deletion watch `listener` of `key`, if it is still armed. */
  unwatchDeletion(key: string, listener: Listener): void {
    const stored = this.#keys.get(key);
    if (stored?.onDeleted === listener) stored.onDeleted = undefined;
  }

  /** Calls `listener` once at the next creation or deletion directly under `prefix`. */
  onPrefixChange(prefix: string, listener: Listener): () => void {
    return subscribe(this.#prefixListeners, prefix, listener);
  }

  #notify(key: string, prefix: string, membershipChanged = true): void {
    this.#fireTree(key);
    this.#fire(this.#keyListeners, key);
    if (membershipChanged) this.#fire(this.#prefixListeners, prefix);
  }

  #fireTree(key: string): void {
    for (const entry of this.#treeListeners) {
      if (!key.startsWith(entry.prefix)) continue;
      this.#treeListeners.delete(entry);
      entry.listener();
    }
  }

  #fire(listeners: Map<string, Listeners>, id: string): void {
    const found = listeners.get(id);
    if (!found) return;
    listeners.delete(id);
    if (typeof found === 'function') {
      this.#wakeups++;
      found();
      return;
    }
    for (const listener of found) {
      this.#wakeups++;
      listener();
    }
  }
}

function entryOf(stored: StoredKey): QueueEntry {
  return { key: stored.key, role: roleOf(stored.key, stored), revision: stored.revision };
}

function roleOf(key: string, stored: StoredKey): Role {
  return stored.owner ? stored.role : ((ROLE_IN_KEY.exec(key)?.[1] as Role | undefined) ?? 'lock');
}

/**
 * The listeners of one key or prefix: the one listener itself, most of the time (a waiter's key is
 * watched by the waiter behind it; its owner's watch is kept in the key, see
 * {@link MemoryStore.watchDeletion}), a Set only when there are more. A Set per watched key cost a
 * waiter some 150 bytes of heap.
 */
type Listeners = Listener | Set<Listener>;

function subscribe(listeners: Map<string, Listeners>, id: string, listener: Listener): () => void {
  add(listeners, id, listener);
  return () => remove(listeners, id, listener);
}

function add(listeners: Map<string, Listeners>, id: string, listener: Listener): void {
  const found = listeners.get(id);
  if (found === undefined) listeners.set(id, listener);
  else if (typeof found === 'function') {
    if (found !== listener) listeners.set(id, new Set([found, listener]));
  } else found.add(listener);
}

function remove(listeners: Map<string, Listeners>, id: string, listener: Listener): void {
  const current = listeners.get(id);
  if (current === listener) listeners.delete(id);
  else if (typeof current === 'object') {
    current.delete(listener);
    if (current.size === 0) listeners.delete(id);
  }
}

/** The one store of this process. */
export const sharedStore = new MemoryStore();
