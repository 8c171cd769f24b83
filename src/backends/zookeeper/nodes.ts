/**
 * Node-level steps that the backend, its sessions and plain keys share: creating a path, listing a
 * queue parent, a node's state, and watching a node for its deletion (a blocker's, or a
 * contender's own). Plain functions of a connection, so that none of those modules needs another.
 * @module
 */
import zookeeper from 'node-zookeeper-client';
import type { ACL, Event, Stat } from 'node-zookeeper-client';
import type { KeyState, QueueEntry } from '../contract.js';
import type { ZooKeeperOptions } from './config.js';
import { Code, codeOf, type ZkConnection, zxidOf } from './connection.js';
import { toBatonError } from './errors.js';
import { orderChildren } from './naming.js';

const { CreateMode } = zookeeper;

/** Creates `path` and its missing ancestors as persistent nodes with `acl`. */
export async function ensurePath(conn: ZkConnection, path: string, acl: ACL[], options: ZooKeeperOptions): Promise<void> {
  const segments = path.split('/').filter(Boolean);
  let current = '';
  for (const segment of segments) {
    current += `/${segment}`;
    try {
      await conn.create(current, Buffer.alloc(0), acl, CreateMode.PERSISTENT);
    } catch (error) {
      if (codeOf(error) === Code.NODE_EXISTS) continue;
      throw toBatonError(error, `creating ${current}`, options);
    }
  }
}

/** The children of a queue parent in creation order; a missing parent is an empty queue. */
export async function listChildren(conn: ZkConnection, parent: string): Promise<QueueEntry[]> {
  try {
    return orderChildren(parent, (await conn.getChildren(parent)).children);
  } catch (error) {
    if (codeOf(error) === Code.NO_NODE) return [];
    throw error;
  }
}

/**
 * `parent`'s children as the leader has them now: a `sync`, then the listing, sent together. The
 * server answers a session's requests in order, and a `sync` is answered once the server has
 * applied everything the leader committed before it. Without it, a server the client has just
 * reconnected to may not yet have applied a create the leader committed (the create this session
 * sent to the server it lost, whose answer never came): a plain listing there would not show it.
 */
export async function listSynced(conn: ZkConnection, parent: string): Promise<string[]> {
  const synced = conn.sync();
  const listed = conn.getChildren(parent);
  const [, { children }] = await Promise.all([synced, listed]);
  return children;
}

/** A node's value, czxid (its revision) and creation time. */
export function stateOf(data: Buffer | undefined, stat: Stat): KeyState {
  return { value: data ? data.toString('utf8') : '', revision: zxidOf(stat.czxid), createdAt: Number(stat.ctime.readBigUInt64BE(0)) };
}

/**
 * Watches `key` on `conn` for its deletion: a getData watch, sent now (synchronously, so it leaves
 * before anything the caller sends next), re-armed after a data change (a proclaim writes the own
 * node) and after a connection loss. Calls `onDeleted` when the node is gone, `onFailed` on any
 * other failure; the end of the session ends the watch through the session's signal. A getData
 * watch on a node already gone sets nothing on the server, unlike an exists watch. Returns the
 * stop function.
 */
export function watchDeletion(conn: ZkConnection, key: string, onDeleted: () => void, onFailed: (error: unknown) => void): () => void {
  const watch = new DeletionWatch(conn, key, onDeleted, onFailed);
  watch.arm();
  return () => watch.stop();
}

/**
 * One node's deletion watch. An object with methods rather than closures: every waiting contender
 * keeps two of these (its own node's and its blocker's) for as long as it waits, so each closure
 * and context it would hold is paid once per waiter. What it keeps while armed: itself, and the
 * one watcher function the client holds until the notification.
 */
class DeletionWatch {
  #onDeleted: (() => void) | undefined;
  #onFailed: ((error: unknown) => void) | undefined;

  constructor(
    readonly conn: ZkConnection,
    readonly key: string,
    onDeleted: () => void,
    onFailed: (error: unknown) => void,
  ) {
    this.#onDeleted = onDeleted;
    this.#onFailed = onFailed;
  }

  arm(): void {
    if (this.#onDeleted === undefined || !this.conn.alive) return;
    this.conn.watchData(this.key, (event) => this.#onEvent(event)).catch((error: unknown) => this.#onError(error));
  }

  #onEvent(event: Event): void {
    if (this.#onDeleted === undefined) return;
    if (event.getType() === zookeeper.Event.NODE_DELETED) this.#onDeleted();
    else this.arm();
  }

  #onError(error: unknown): void {
    if (this.#onDeleted === undefined || !this.conn.alive) return;
    const code = codeOf(error);
    if (code === Code.NO_NODE) this.#onDeleted();
    else if (code === Code.CONNECTION_LOSS) this.conn.whenConnected().then(() => this.arm(), () => {});
    else this.#onFailed?.(error);
  }

  stop(): void {
    this.#onDeleted = undefined;
    this.#onFailed = undefined;
  }
}

/**
 * A child watch on a queue parent, set by the listing an enqueue sends behind its create where the
 * node is expected to be alone. While the node is the only child it stands in for the node's own
 * deletion watch (see {@link watchDeletionThrough}): any change of the parent's children fires it,
 * the node's deletion among them, so an uncontended acquire needs no request of its own to watch
 * its node. An object with one watcher function, made before the listing is sent.
 */
export class ChildChangeWatch {
  #fired = false;
  #stopped = false;
  #onChange: (() => void) | undefined;

  /** The watcher the listing is sent with. */
  readonly watcher = (): void => {
    if (this.#stopped) return;
    this.#fired = true;
    const onChange = this.#onChange;
    this.#onChange = undefined;
    onChange?.();
  };

  /** Calls `onChange` once, at the first change of the parent's children (at once if one came already). */
  adopt(onChange: () => void): void {
    if (this.#stopped) return;
    if (this.#fired) onChange();
    else this.#onChange = onChange;
  }

  /** Ignores the watch from now on (the server still sends its one event, at the next change). */
  drop(): void {
    this.#stopped = true;
    this.#onChange = undefined;
  }
}

/**
 * Watches `key` for its deletion through `parentWatch`, a child watch on its parent set by a
 * listing that showed `key` as the only child: at the first change of the children (a contender
 * joining, the node deleted, or, after a reconnect, any change while cut off), the node's own
 * getData watch ({@link watchDeletion}) takes over, and its answer says whether the node is still
 * there. Returns the stop function.
 */
export function watchDeletionThrough(
  conn: ZkConnection,
  key: string,
  parentWatch: ChildChangeWatch,
  onDeleted: () => void,
  onFailed: (error: unknown) => void,
): () => void {
  let stopped = false;
  let stopOwn: (() => void) | undefined;
  parentWatch.adopt(() => {
    if (!stopped) stopOwn = watchDeletion(conn, key, onDeleted, onFailed);
  });
  return () => {
    stopped = true;
    parentWatch.drop();
    stopOwn?.();
  };
}
