/**
 * A Baton session on ZooKeeper: one ZooKeeper session's contender nodes and guarded writes.
 * Enqueue is one round trip: a multi of the create and an empty setData on the parent (whose new
 * `mzxid` is then the new node's `czxid`, the token), with the listing pipelined behind it. Where
 * the parent carries data or may not be written, it falls back to list, create, list and reads the
 * czxid from the parent's `pzxid` or with one `exists`. After a connection loss during a create,
 * the own node is found by its uuid (protected create) instead of creating a second one.
 * @module
 */
import zookeeper from 'node-zookeeper-client';
import type { Stat } from 'node-zookeeper-client';
import { BackendError, SessionLostError } from '../../errors.js';
import type { Enqueued, GuardedOp, KeyState, OwnKey, Role, Session } from '../contract.js';
import { GuaranteedRemovals } from '../guaranteed-delete.js';
import { OwnKeyWatches } from '../own-keys.js';
import { Code, codeOf, MultiError, type MultiOp, ZkConnection, zxidOf } from './connection.js';
import type { ZooKeeperBackend } from './backend.js';
import { lastSegment } from '../key-paths.js';
import { toBatonError } from './errors.js';
import { findByUuid, newNodeUuid, nodeNamePrefix, orderChildren, PROTECTED_PREFIX } from './naming.js';

const { CreateMode } = zookeeper;
const EMPTY = Buffer.alloc(0);
/** How often one operation is retried after a connection loss or a lost race. */
export const MAX_ATTEMPTS = 5;

/** The session's view: one ZooKeeper session, its ephemeral nodes and its writes. */
export class ZooKeeperSession implements Session {
  readonly id: string;
  readonly signal: AbortSignal;
  /** Nodes this session created and has not deleted: holds and waiters. */
  readonly ownKeys = new Set<string>();
  readonly #own: OwnKeyWatches;
  readonly #removals: GuaranteedRemovals;

  constructor(
    private readonly backend: ZooKeeperBackend,
    readonly connection: ZkConnection,
  ) {
    this.id = connection.sessionId;
    this.signal = connection.signal;
    this.#own = new OwnKeyWatches(this.signal);
    this.#removals = new GuaranteedRemovals({
      signal: this.signal,
      ttlMs: connection.timeout,
      // Any answer to the versioned delete confirms the node gone: deleted now, or not there with this czxid.
      attemptRemove: async (key, revision) => {
        if (revision !== undefined) await this.#deleteIf(key, revision);
      },
      end: () => this.end(),
    });
  }

  async enqueue(prefix: string, role: Role, value: string, _signal?: AbortSignal): Promise<Enqueued> {
    const entered = await this.#enqueue(prefix, role, value);
    this.ownKeys.add(entered.key);
    return { ...entered, own: this.#watchOwn(entered.key, entered.revision) };
  }

  /** Ends the ZooKeeper session: the server deletes its ephemeral nodes at once. */
  async end(): Promise<void> {
    await this.connection.close();
  }

  remove(key: string, revision: bigint, signal?: AbortSignal): Promise<void> {
    return this.#removals.remove(key, revision, signal);
  }

  /** The own-node watch, armed at once (a getData watch on the node). */
  #watchOwn(key: string, revision: bigint): OwnKey {
    return this.#own.arm(key, (onDeleted, onFailed) => {
      const stop = new AbortController();
      this.backend.waitForBlocker(key, revision, stop.signal).then(onDeleted, (error) => {
        if (!stop.signal.aborted) onFailed(error);
      });
      return () => stop.abort();
    });
  }

  async #enqueue(prefix: string, role: Role, value: string): Promise<Omit<Enqueued, 'own'>> {
    const conn = this.connection;
    const parent = this.backend.prefixPath(prefix);
    const uuid = newNodeUuid();
    const path = `${parent}/${nodeNamePrefix(uuid, role)}`;
    const data = Buffer.from(value, 'utf8');
    const acl = this.backend.acl;
    for (let attempt = 1; ; attempt++) {
      if (this.signal.aborted) throw this.signal.reason;
      if (this.backend.emptyParents.has(parent)) {
        const stamped = await this.#enqueueStamped(parent, path, data, uuid);
        if (stamped) return stamped;
        continue;
      }
      // One round trip: the server answers a session's requests in the order they were sent.
      const [before, created, after] = conn.pipeline(
        () => [conn.getChildren(parent), conn.create(path, data, acl, CreateMode.EPHEMERAL_SEQUENTIAL), conn.getChildren(parent)] as const,
      );
      const [beforeResult, createdResult, afterResult] = await Promise.allSettled([before, created, after]);
      if (createdResult.status === 'fulfilled') {
        const own = createdResult.value;
        if (afterResult.status === 'fulfilled') {
          if (afterResult.value.stat.dataLength === 0) this.backend.noteEmptyParent(parent);
          const entries = orderChildren(parent, afterResult.value.children);
          const exact = beforeResult.status === 'fulfilled' && afterResult.value.stat.cversion === beforeResult.value.stat.cversion + 1;
          const revision = exact ? zxidOf(afterResult.value.stat.pzxid) : await this.#czxidOf(own);
          return { key: own, revision, entries };
        }
        const revision = await this.#czxidOf(own);
        return { key: own, revision, entries: await this.backend.listWith(conn, parent) };
      }
      const code = codeOf(createdResult.reason);
      if (code === Code.NO_NODE && attempt < MAX_ATTEMPTS) {
        await this.backend.ensurePath(conn, parent);
        continue;
      }
      if (code === Code.CONNECTION_LOSS && attempt < MAX_ATTEMPTS) {
        // Protected create: the create may have happened. Find the node by its uuid first.
        await conn.whenConnected();
        const found = await this.#recoverProtected(parent, uuid);
        if (found) return found;
        continue;
      }
      throw toBatonError(createdResult.reason, `creating a node under ${parent}`, this.backend.options);
    }
  }

  /**
   * Enqueue under a parent known to carry no data: a multi of the create and an empty setData on
   * the parent, then the listing, back to back. All ops of a multi commit in one transaction with
   * one zxid, so the parent's new `mzxid` is the new node's `czxid`: the exact token in one round
   * trip even when other clients' changes interleave. Resolves to undefined when the caller should
   * try again (the parent went missing or refused the setData: the plain path is used then).
   */
  async #enqueueStamped(parent: string, path: string, data: Buffer, uuid: string): Promise<Omit<Enqueued, 'own'> | undefined> {
    const conn = this.connection;
    const [stamped, after] = conn.pipeline(
      () =>
        [
          conn.multi([
            { create: path, data, acl: this.backend.acl, mode: CreateMode.EPHEMERAL_SEQUENTIAL },
            { setData: parent, data: EMPTY },
          ]),
          conn.getChildren(parent),
        ] as const,
    );
    const [stampedResult, afterResult] = await Promise.allSettled([stamped, after]);
    if (stampedResult.status === 'fulfilled') {
      const [created, parentWrite] = stampedResult.value;
      const key = created?.path;
      const stat = parentWrite?.stat;
      if (key === undefined || stat === undefined) throw new BackendError(`ZooKeeper answered an enqueue under ${parent} without the created path or the parent's Stat`);
      const entries = afterResult.status === 'fulfilled' ? orderChildren(parent, afterResult.value.children) : await this.backend.listWith(conn, parent);
      if (afterResult.status === 'fulfilled' && afterResult.value.stat.dataLength !== 0) this.backend.emptyParents.delete(parent);
      return { key, revision: zxidOf(stat.mzxid), entries };
    }
    const error = stampedResult.reason;
    if (error instanceof MultiError) {
      // NoNode: the parent was deleted; NoAuth on the setData: we may create but not write it,
      // so this parent is never stamped again.
      this.backend.emptyParents.delete(parent);
      if (error.index === 1 && error.code === Code.NO_AUTH) this.backend.unstampable.add(parent);
      if (error.index === 0 && error.code !== Code.NO_NODE) {
        throw toBatonError(Object.assign(new Error(`code ${error.code}`), { code: error.code, getCode: () => error.code }), `creating a node under ${parent}`, this.backend.options);
      }
      return undefined;
    }
    if (codeOf(error) === Code.CONNECTION_LOSS) {
      await conn.whenConnected();
      return this.#recoverProtected(parent, uuid);
    }
    throw toBatonError(error, `creating a node under ${parent}`, this.backend.options);
  }

  /** After a connection loss during create: our node if the create went through, else undefined. */
  async #recoverProtected(parent: string, uuid: string): Promise<Omit<Enqueued, 'own'> | undefined> {
    const conn = this.connection;
    const { children } = await conn.getChildren(parent);
    const name = findByUuid(children, uuid);
    if (name === undefined) return undefined;
    const key = `${parent}/${name}`;
    const stat = await conn.exists(key);
    if (stat === null) return undefined;
    if (stat.ephemeralOwner.readBigUInt64BE(0) !== conn.sessionIdBigInt) {
      // A node of an older session: never reuse it; delete it and create again.
      await conn.remove(key, stat.version).catch(() => {});
      return undefined;
    }
    return { key, revision: zxidOf(stat.czxid), entries: orderChildren(parent, children) };
  }

  async #czxidOf(key: string): Promise<bigint> {
    const stat = await this.connection.exists(key);
    if (stat === null) throw new SessionLostError(`ZooKeeper node ${key} vanished right after it was created`);
    return zxidOf(stat.czxid);
  }

  async #deleteIf(key: string, revision: bigint): Promise<boolean> {
    this.ownKeys.delete(key);
    // A lost session's nodes may outlive our giving up on it until the server expires it: delete
    // them through a live connection, checking the czxid, so a release is prompt either way.
    const conn = this.connection.alive ? this.connection : await this.backend.connection();
    for (let attempt = 1; ; attempt++) {
      try {
        if (conn === this.connection && isProtectedName(key)) {
          // `_c_<uuid>` names are unique for ever: the path alone identifies this creation.
          await conn.remove(key);
          return true;
        }
        const stat = await conn.exists(key);
        if (stat === null || zxidOf(stat.czxid) !== revision) return false;
        await conn.remove(key, stat.version);
        return true;
      } catch (error) {
        const code = codeOf(error);
        if (code === Code.NO_NODE || code === Code.BAD_VERSION) return false;
        if (code === Code.CONNECTION_LOSS && attempt < MAX_ATTEMPTS) {
          await conn.whenConnected();
          continue;
        }
        throw toBatonError(error, `deleting ${key}`, this.backend.options);
      }
    }
  }

  async updateIf(key: string, revision: bigint, value: string, _signal?: AbortSignal): Promise<boolean> {
    const conn = this.connection;
    const data = Buffer.from(value, 'utf8');
    for (let attempt = 1; ; attempt++) {
      try {
        if (isProtectedName(key)) {
          await conn.setData(key, data);
          return true;
        }
        const stat = await conn.exists(key);
        if (stat === null || zxidOf(stat.czxid) !== revision) return false;
        await conn.setData(key, data, stat.version);
        return true;
      } catch (error) {
        const code = codeOf(error);
        if (code === Code.NO_NODE) return false;
        if ((code === Code.CONNECTION_LOSS || code === Code.BAD_VERSION) && attempt < MAX_ATTEMPTS) {
          if (code === Code.CONNECTION_LOSS) await conn.whenConnected();
          continue;
        }
        throw toBatonError(error, `updating ${key}`, this.backend.options);
      }
    }
  }

  /**
   * A multi: `check` of the own node, then the writes. `put` becomes a create or a versioned
   * setData (decided by a read just before), `delete` a versioned delete of a node that exists.
   * If one of those reads went stale before the multi ran, the multi fails on that op and is
   * built again; if it fails on the check, the hold is gone and nothing was written.
   */
  async guardedWrite(key: string, revision: bigint, ops: readonly GuardedOp[], _signal?: AbortSignal): Promise<boolean> {
    const conn = this.connection;
    for (let attempt = 1; ; attempt++) {
      try {
        const own = await conn.exists(key);
        if (own === null || zxidOf(own.czxid) !== revision) return false;
        const multi: MultiOp[] = [{ check: key, version: own.version }];
        for (const op of ops) {
          if ('put' in op) {
            const path = this.backend.userPath(op.put);
            const stat = await conn.exists(path);
            if (stat === null) {
              await this.backend.ensurePath(conn, parentOf(path));
              multi.push({ create: path, data: Buffer.from(op.value, 'utf8'), acl: this.backend.acl, mode: CreateMode.PERSISTENT });
            } else {
              multi.push({ setData: path, data: Buffer.from(op.value, 'utf8'), version: stat.version });
            }
          } else {
            const path = this.backend.userPath(op.delete);
            const stat = await conn.exists(path);
            if (stat !== null) multi.push({ remove: path, version: stat.version });
          }
        }
        await conn.multi(multi);
        return true;
      } catch (error) {
        if (error instanceof MultiError) {
          if (error.index === 0) {
            // The check failed: deleted (the hold is gone) or its data changed meanwhile (proclaim).
            if (error.code === Code.NO_NODE) return false;
            if (attempt < MAX_ATTEMPTS) continue;
          }
          if (attempt < MAX_ATTEMPTS && (error.code === Code.NODE_EXISTS || error.code === Code.NO_NODE || error.code === Code.BAD_VERSION)) continue;
          throw toBatonError(Object.assign(new Error(`op ${error.index} failed with code ${error.code}`), { code: error.code }), `guarded write under ${key}`, this.backend.options);
        }
        const code = codeOf(error);
        if (code === Code.CONNECTION_LOSS && attempt < MAX_ATTEMPTS) {
          await conn.whenConnected();
          continue;
        }
        throw toBatonError(error, `guarded write under ${key}`, this.backend.options);
      }
    }
  }
}

export function stateOf(data: Buffer | undefined, stat: Stat): KeyState {
  return { value: data ? data.toString('utf8') : '', revision: zxidOf(stat.czxid), createdAt: Number(stat.ctime.readBigUInt64BE(0)) };
}

function isProtectedName(key: string): boolean {
  const name = lastSegment(key);
  return name.startsWith(PROTECTED_PREFIX) && name.length > 40;
}

function parentOf(path: string): string {
  const index = path.lastIndexOf('/');
  return index <= 0 ? '/' : path.slice(0, index);
}
