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
 * watch on a node already gone sets nothing on the server, unlike an exists watch.
 */
export function watchDeletion(conn: ZkConnection, key: string, onDeleted: () => void, onFailed: (error: unknown) => void): () => void {
  return sendDeletionWatch(conn, key).adopt(onDeleted, onFailed);
}

/** A deletion watch sent before anyone listens to it (see {@link sendDeletionWatch}). */
export interface SentDeletionWatch {
  readonly key: string;
  /**
   * Listens from now on; what came back before is delivered first, in order. `key` must have
   * existed when the request was sent: a `NO_NODE` answer then means deleted. Returns the stop
   * function.
   */
  adopt(onDeleted: () => void, onFailed: (error: unknown) => void): () => void;
  /** Ignores every answer: for a `key` that turned out never to exist, where no watch was set. */
  drop(): void;
}

/**
 * {@link watchDeletion}'s getData sent now, for a `key` that may not exist yet: the enqueue sends
 * it right behind the create, on the name the server is expected to give the new node. If the
 * guess was right the watch is adopted; if not, the request failed with `NO_NODE` and left no
 * watch on the server, and it is dropped.
 */
export function sendDeletionWatch(conn: ZkConnection, key: string): SentDeletionWatch {
  const watch = new DeletionWatch(conn, key);
  watch.arm();
  return watch;
}

/**
 * One node's deletion watch. An object with methods rather than closures: every waiting contender
 * keeps two of these (its own node's and its blocker's) for as long as it waits, so each closure
 * and context it would hold is paid once per waiter. What it keeps while armed: itself, and the
 * one watcher function the client holds until the notification.
 */
class DeletionWatch implements SentDeletionWatch {
  #stopped = false;
  #onDeleted: (() => void) | undefined;
  #onFailed: ((error: unknown) => void) | undefined;
  /** Outcomes that came back before {@link adopt}, delivered by it in order (rare: a guessed name). */
  #early: Array<{ readonly event?: Event; readonly error?: unknown }> | undefined;

  constructor(
    readonly conn: ZkConnection,
    readonly key: string,
  ) {}

  arm(): void {
    if (this.#stopped || !this.conn.alive) return;
    this.conn.getData(this.key, (event) => this.#deliver({ event })).catch((error: unknown) => this.#deliver({ error }));
  }

  #deliver(outcome: { readonly event?: Event; readonly error?: unknown }): void {
    if (this.#stopped) return;
    if (this.#onDeleted) this.#settle(outcome);
    else (this.#early ??= []).push(outcome);
  }

  #settle({ event, error }: { readonly event?: Event; readonly error?: unknown }): void {
    if (event !== undefined) {
      if (event.getType() === zookeeper.Event.NODE_DELETED) this.#onDeleted?.();
      else this.arm();
      return;
    }
    if (!this.conn.alive) return;
    const code = codeOf(error);
    if (code === Code.NO_NODE) this.#onDeleted?.();
    else if (code === Code.CONNECTION_LOSS) this.conn.whenConnected().then(() => this.arm(), () => {});
    else this.#onFailed?.(error);
  }

  adopt(onDeleted: () => void, onFailed: (error: unknown) => void): () => void {
    this.#onDeleted = onDeleted;
    this.#onFailed = onFailed;
    const backlog = this.#early;
    this.#early = undefined;
    for (const outcome of backlog ?? []) if (!this.#stopped) this.#settle(outcome);
    return () => this.drop();
  }

  drop(): void {
    this.#stopped = true;
    this.#early = undefined;
    this.#onDeleted = undefined;
    this.#onFailed = undefined;
  }
}
