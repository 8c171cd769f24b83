/**
 * {@link Backend.followPrefix} on ZooKeeper: one persistent recursive watch (`addWatch`, ZooKeeper
 * 3.6+) on the name node per coordinator, so that each creation and deletion of a child arrives as
 * one notification carrying its path: O(1) per change, and no listing of the children per change.
 *
 * The watch is added, then the children listed, back to back on one session: ZooKeeper answers a
 * session in order and sends a notification before any answer that reflects its change, so the
 * notifications that come before the listing are already in it and those after are applied on
 * it. `node-zookeeper-client` knows nothing of persistent watches: it does not restore them after
 * a reconnect, so every reconnect (and every new session) adds the watch and lists again, and the
 * follower is given the whole membership anew. A server without `addWatch` gets the old way: a
 * children watch and a listing per change.
 *
 * A deletion another coordinator of the process has seen (./known-deletions.ts) is applied at once,
 * ahead of this connection's own notification of it, and a node already known deleted is skipped
 * in a later notification of its creation or listing: the feed never shows a node whose deletion
 * this process has seen confirmed, however far its own notifications lag.
 *
 * A feed is its process's for the name, not one coordinator's (./feed-group.ts): each time it
 * follows anew (after a disconnect, a lost session, its coordinator's close) it asks its host for
 * a session, which may be another coordinator's. Known deletions reach the follower for the whole
 * life of the feed, between two sessions too.
 * @module
 */
import type { Client } from 'node-zookeeper-client';
import { ClosedError } from '../../errors.js';
import type { PrefixFollower } from '../contract.js';
import { Code, codeOf, type ZkConnection } from './connection.js';
import { isKnownDeleted, noteDeleted, onKnownDeletion, withoutKnownDeleted } from './known-deletions.js';
import { orderChildren, roleOf, sequenceOf } from './naming.js';
import { parentOf } from '../key-paths.js';

const ADD_WATCH_OPCODE = 106;
const REMOVE_WATCHES_OPCODE = 18;
/** AddWatchMode.PERSISTENT_RECURSIVE. */
const PERSISTENT_RECURSIVE_MODE = 1;
/** WatcherType.PersistentRecursive, for removeWatches. */
const PERSISTENT_RECURSIVE_TYPE = 5;
/** An opcode whose answer carries no payload the client parses (as connection.ts's sync uses). */
const NO_PAYLOAD_OPCODE = 2;
const NODE_CREATED = 1;
const NODE_DELETED = 2;
const UNIMPLEMENTED = -6;
const RETRY_MS = 50;
const MAX_RETRY_MS = 2000;

/** Where a feed follows: a session to follow on (./feed-group.ts). */
export interface FollowHost {
  /** A live session's connection; rejects with a ClosedError when there is none to be had any more. */
  connection(): Promise<ZkConnection>;
}

/** What a feed tells: the membership and its changes, and when it starts over (a new listing is on its way). */
export interface ChildrenFollower extends PrefixFollower {
  unlisted?(conn: ZkConnection): void;
}

interface WatcherEvent {
  readonly type: number;
  readonly path: string;
}
type Notified = (event: WatcherEvent) => void;

/** The notification handlers by watched path, per client: installed once on its dispatch. */
const handlersByClient = new WeakMap<Client, Map<string, Set<Notified>>>();

function handlersOf(client: Client): Map<string, Set<Notified>> {
  let handlers = handlersByClient.get(client);
  if (handlers) return handlers;
  handlers = new Map();
  handlersByClient.set(client, handlers);
  const watchers = (client as unknown as { connectionManager: { watcherManager: { emit(event: WatcherEvent): void } } }).connectionManager.watcherManager;
  const emit = watchers.emit;
  const byPath = handlers;
  // Every notification still goes to the client's own one-shot watchers; ours only listen.
  watchers.emit = function (this: unknown, event: WatcherEvent) {
    const parent = parentOf(event.path) || '/';
    const found = byPath.get(parent);
    if (found && (event.type === NODE_CREATED || event.type === NODE_DELETED)) for (const handler of [...found]) handler(event);
    return emit.call(this, event);
  };
  return handlers;
}

/** A request with a path and an int as payload whose answer has none (addWatch, removeWatches). */
function pathAndMode(conn: ZkConnection, opcode: number, path: string, mode: number): Promise<void> {
  return conn.request<void>(false, (cb) => {
    const header = { xid: 0, type: NO_PAYLOAD_OPCODE };
    const request = {
      header,
      payload: null,
      toBuffer(): Buffer {
        const encoded = Buffer.from(path, 'utf8');
        const frame = Buffer.alloc(4 + 4 + 4 + 4 + encoded.length + 4);
        let offset = frame.writeInt32BE(frame.length - 4, 0);
        offset = frame.writeInt32BE(header.xid, offset);
        offset = frame.writeInt32BE(opcode, offset);
        offset = frame.writeInt32BE(encoded.length, offset);
        offset += encoded.copy(frame, offset);
        frame.writeInt32BE(mode, offset);
        return frame;
      },
    };
    (conn.client as unknown as { connectionManager: { queue(r: unknown, cb: (error: unknown) => void): void } }).connectionManager.queue(request, (error) => cb(error ?? null));
  });
}

/**
 * Follows the children of `parent` (a path) for `follower` until `signal` aborts, or until its
 * host has no session to give. Never rejects: a view is an aid, never needed.
 */
export function followChildren(host: FollowHost, parent: string, signal: AbortSignal, follower: ChildrenFollower): void {
  // At any time, listed or not (a listing on its way is filtered), on whichever session: a node
  // known deleted is gone.
  const stopKnown = onKnownDeletion(parent === '/' ? '' : parent, (key) => follower.deleted(key));
  const pauseFor = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());
  void (async () => {
    let pause = RETRY_MS;
    while (!signal.aborted) {
      let conn: ZkConnection;
      try {
        conn = await host.connection();
      } catch (error) {
        if (error instanceof ClosedError) return; // no coordinator left to follow through
        await pauseFor(pause);
        pause = Math.min(pause * 2, MAX_RETRY_MS);
        continue;
      }
      if (signal.aborted) return; // stopped while it waited for a session: add no watch
      const progress = { listed: false };
      try {
        // Resolves when the client disconnects: followed anew on a session in contact.
        await followOnce(conn, parent, signal, follower, progress);
        pause = RETRY_MS;
      } catch {
        if (signal.aborted) return;
        // The session it followed on ended (lost, or its coordinator closed): on another at once.
        if (progress.listed && !conn.alive) {
          pause = RETRY_MS;
          continue;
        }
        await pauseFor(pause);
        pause = Math.min(pause * 2, MAX_RETRY_MS);
      }
    }
  })().finally(stopKnown);
}

/**
 * Follows `parent` on one connection until the signal aborts (resolves), the client disconnects
 * (resolves: the caller follows anew, on a session in contact) or the session ends (rejects).
 * `progress.listed` is set once the follower was given the listing.
 */
async function followOnce(conn: ZkConnection, parent: string, signal: AbortSignal, follower: ChildrenFollower, progress: { listed: boolean }): Promise<void> {
  const handlers = handlersOf(conn.client);
  follower.unlisted?.(conn);
  let listed = false;
  /**
   * Notifications that came after the listing's answer but before it was applied: the client
   * reads a whole chunk of the socket at once, calling notification handlers as it goes, while the
   * listing's promise settles only after. They are newer than the listing, and applied after it.
   */
  let afterListing: WatcherEvent[] | undefined;
  const apply = (event: WatcherEvent, name: string) => {
    if (event.type === NODE_DELETED) follower.deleted(event.path);
    // Created and already deleted, as another coordinator saw: it left the queue.
    else if (!isKnownDeleted(event.path)) follower.created({ key: event.path, role: roleOf(name) });
  };
  const onEvent: Notified = (event) => {
    const name = event.path.slice(parent.length + 1);
    if (sequenceOf(name) === undefined) return;
    // A fact, listed or not: the other coordinators' feeds are told (and this one, below).
    if (event.type === NODE_DELETED) noteDeleted(event.path);
    if (listed) apply(event, name);
    else if (afterListing !== undefined) afterListing.push(event);
    // Else already in the listing on its way.
  };
  let set = handlers.get(parent);
  if (!set) handlers.set(parent, (set = new Set()));
  set.add(onEvent);
  let ended: () => void = () => {};
  const over = new Promise<void>((resolve) => (ended = resolve));
  const onDisconnected = () => ended();
  conn.client.once('disconnected', onDisconnected);
  const untrack = conn.track(() => ended());
  signal.addEventListener('abort', ended, { once: true });
  try {
    // Sent back to back: the watch is in place before the listing is read.
    const watching = pathAndMode(conn, ADD_WATCH_OPCODE, parent, PERSISTENT_RECURSIVE_MODE);
    // The client's own callback marks the moment of the answer (see afterListing).
    const listing = conn
      .request<string[]>(false, (cb) =>
        conn.client.getChildren(parent, (error: unknown, children?: string[]) => {
          afterListing = [];
          cb(error, children ?? []);
        }),
      )
      .catch((error: unknown) => {
        if (codeOf(error) === Code.NO_NODE) return [] as string[];
        throw error;
      });
    watching.catch(() => {});
    listing.catch(() => {});
    try {
      await watching;
    } catch (error) {
      if (codeOf(error) !== UNIMPLEMENTED) throw error;
      set.delete(onEvent);
      await relistOnChange(conn, parent, signal, follower, over, progress);
      return;
    }
    follower.reset(withoutKnownDeleted(orderChildren(parent, await listing)));
    listed = true;
    progress.listed = true;
    const late = afterListing ?? [];
    afterListing = undefined;
    for (const event of late) apply(event, event.path.slice(parent.length + 1));
    await over;
    if (!conn.alive) throw conn.signal.reason;
    if (signal.aborted) {
      pathAndMode(conn, REMOVE_WATCHES_OPCODE, parent, PERSISTENT_RECURSIVE_TYPE).catch(() => {});
      return;
    }
    // Disconnected: the watch is gone with the connection (the client does not restore it).
  } finally {
    set.delete(onEvent);
    if (set.size === 0 && handlers.get(parent) === set) handlers.delete(parent);
    conn.client.removeListener('disconnected', onDisconnected);
    untrack();
    signal.removeEventListener('abort', ended);
  }
}

/** Without `addWatch`: a children watch, and the whole listing again at every change. */
async function relistOnChange(conn: ZkConnection, parent: string, signal: AbortSignal, follower: PrefixFollower, over: Promise<void>, progress: { listed: boolean }): Promise<void> {
  let stop = false;
  void over.then(() => (stop = true));
  while (!stop && !signal.aborted && conn.alive) {
    let changed: () => void = () => {};
    const change = new Promise<void>((resolve) => (changed = resolve));
    try {
      follower.reset(withoutKnownDeleted(orderChildren(parent, (await conn.getChildren(parent, () => changed())).children)));
      progress.listed = true;
    } catch (error) {
      if (codeOf(error) !== Code.NO_NODE) throw error;
      follower.reset([]);
      if ((await conn.exists(parent, () => changed())) !== null) changed();
    }
    await Promise.race([change, over]);
  }
  if (!conn.alive) throw conn.signal.reason;
}
