/**
 * Node-level steps that the backend, its sessions and plain keys share: creating a path, listing a
 * queue parent, a node's state, and watching a node for its deletion (a blocker's, or a
 * contender's own). Plain functions of a connection, so that none of those modules needs another.
 * @module
 */
import zookeeper from 'node-zookeeper-client';
import type { ACL, Stat } from 'node-zookeeper-client';
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
  let stopped = false;
  const arm = (): void => {
    if (stopped || !conn.alive) return;
    conn
      .getData(key, (event) => {
        if (stopped) return;
        if (event.getType() === zookeeper.Event.NODE_DELETED) onDeleted();
        else arm();
      })
      .catch((error: unknown) => {
        if (stopped || !conn.alive) return;
        const code = codeOf(error);
        if (code === Code.NO_NODE) onDeleted();
        else if (code === Code.CONNECTION_LOSS) conn.whenConnected().then(arm, () => {});
        else onFailed(error);
      });
  };
  arm();
  return () => {
    stopped = true;
  };
}
