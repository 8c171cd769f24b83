/**
 * Node-level steps that the backend, its sessions and plain keys share: creating a path, listing a
 * queue parent, a node's state, and checking a path given in a guarded write. Plain functions of a
 * connection, so that none of those modules needs another.
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

