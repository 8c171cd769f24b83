/**
 * The ZooKeeper backend: the contract over Apache ZooKeeper through `node-zookeeper-client`,
 * with Curator's node layouts so that Baton, Curator and kazoo share locks and elections.
 *
 * - A Baton session is a ZooKeeper session ({@link ZkConnection}); contender nodes are
 *   EPHEMERAL_SEQUENTIAL children of `<chroot>/<prefix>`, named `_c_<uuid>-lock-<seq>` etc.
 * - The revision of a node is its `czxid`. `create` returns no Stat in this client, so enqueue
 *   sends three requests back to back (one round trip, answered in order): list the parent,
 *   create, list again. When the parent's `cversion` moved by exactly one between the two lists,
 *   the only child change in between was our create, so the parent's `pzxid` is our `czxid`.
 *   Otherwise (another client's change slipped in between) one `exists` reads it.
 * - Waits use `getData` watches rather than `exists` watches: `exists` on a node that is
 *   already gone leaves a creation watch behind for the rest of the session, `getData` does not.
 * @module
 */
import zookeeper from 'node-zookeeper-client';
import type { ACL, Event, Stat } from 'node-zookeeper-client';
import { BackendError, BatonError, ClosedError, SessionLostError } from '../../errors.js';
import { abortable } from '../abortable.js';
import type { Backend, BackendModule, Enqueued, GuardedOp, KeyState, QueueEntry, Role, Session, Watched } from '../contract.js';
import { aclFor } from './acl.js';
import { optionsFromObject, optionsFromUrl, type ZooKeeperOptions } from './config.js';
import { Code, codeOf, MultiError, type MultiOp, ZkConnection, zxidOf } from './connection.js';
import { findByUuid, newNodeUuid, nodeNamePrefix, orderChildren, PROTECTED_PREFIX } from './naming.js';

export type { ZooKeeperOptions } from './config.js';
export { digestId } from './acl.js';

const { CreateMode } = zookeeper;
const NODE_DELETED = zookeeper.Event.NODE_DELETED;
const EMPTY = Buffer.alloc(0);
/** How long a hold's own-node watch waits before it is armed (see waitForDelete). */
export const OWN_WATCH_DELAY_MS = 20;

/** How often one operation is retried after a connection loss or a lost race. */
const MAX_ATTEMPTS = 5;

/** Turns a ZooKeeper error into a Baton error that says what failed and, where it can, why. */
export function toBatonError(error: unknown, what: string, options: ZooKeeperOptions): Error {
  if (error instanceof BatonError) return error;
  const code = codeOf(error);
  if (code === Code.NO_AUTH) {
    const who = options.auth ? `digest user "${options.auth.username}"` : 'an unauthenticated client';
    return new BackendError(
      `ZooKeeper refused ${what}: not authorised (NoAuth). The node's ACL does not grant ${who} this permission; ` +
        'check the user name and password in the URL (user:pass@) against the identity that created the nodes',
      { cause: error },
    );
  }
  if (code === Code.SESSION_EXPIRED) return new SessionLostError(`ZooKeeper session expired during ${what}`, { cause: error });
  if (code !== undefined) return new BackendError(`ZooKeeper ${what} failed: ${String((error as Error).message ?? error)}`, { cause: error });
  return new BackendError(`ZooKeeper ${what} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

/** The session's view: one ZooKeeper session, its ephemeral nodes and its writes. */
class ZooKeeperSession implements Session {
  readonly id: string;
  readonly signal: AbortSignal;
  /** Nodes this session created and has not deleted: holds and waiters. */
  readonly ownKeys = new Set<string>();

  constructor(
    private readonly backend: ZooKeeperBackend,
    readonly connection: ZkConnection,
  ) {
    this.id = connection.sessionId;
    this.signal = connection.signal;
  }

  async enqueue(prefix: string, role: Role, value: string): Promise<Enqueued> {
    const entered = await this.#enqueue(prefix, role, value);
    this.ownKeys.add(entered.key);
    return entered;
  }

  async #enqueue(prefix: string, role: Role, value: string): Promise<Enqueued> {
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
  async #enqueueStamped(parent: string, path: string, data: Buffer, uuid: string): Promise<Enqueued | undefined> {
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
  async #recoverProtected(parent: string, uuid: string): Promise<Enqueued | undefined> {
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

  async deleteIf(key: string, revision: bigint): Promise<boolean> {
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

  async updateIf(key: string, revision: bigint, value: string): Promise<boolean> {
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
  async guardedWrite(key: string, revision: bigint, ops: readonly GuardedOp[]): Promise<boolean> {
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

function stateOf(data: Buffer | undefined, stat: Stat): KeyState {
  return { value: data ? data.toString('utf8') : '', revision: zxidOf(stat.czxid), createdAt: Number(stat.ctime.readBigUInt64BE(0)) };
}

function isProtectedName(key: string): boolean {
  const name = key.slice(key.lastIndexOf('/') + 1);
  return name.startsWith(PROTECTED_PREFIX) && name.length > 40;
}

function parentOf(path: string): string {
  const index = path.lastIndexOf('/');
  return index <= 0 ? '/' : path.slice(0, index);
}

/** A coordinator's connection to a ZooKeeper ensemble. */
export class ZooKeeperBackend implements Backend {
  readonly kind = 'zookeeper' as const;
  readonly acl: ACL[];
  #conn: ZkConnection | undefined;
  #opening: Promise<ZkConnection> | undefined;
  #session: ZooKeeperSession | undefined;
  #closed = false;
  /** Queue parents seen carrying no data, where enqueue stamps the parent (see enqueue). */
  readonly emptyParents = new Set<string>();
  /** Queue parents this identity may create children under but not write (ACL). */
  readonly unstampable = new Set<string>();

  constructor(readonly options: ZooKeeperOptions) {
    this.acl = aclFor(options.auth);
  }

  /** Remembers a data-less queue parent (bounded: a process using very many names forgets). */
  noteEmptyParent(parent: string): void {
    if (this.unstampable.has(parent)) return;
    if (this.emptyParents.size >= 10_000) this.emptyParents.clear();
    this.emptyParents.add(parent);
  }

  /** `<chroot>/<prefix>`. */
  prefixPath(prefix: string): string {
    return `${this.options.chroot}/${prefix}`;
  }

  /**
   * A guarded-write path: an absolute ZooKeeper path as the server names it, chroot included,
   * the same key space as the keys this backend returns.
   */
  userPath(path: string): string {
    if (!path.startsWith('/') || path.endsWith('/') || path.includes('//')) {
      throw new BackendError(`invalid ZooKeeper path ${JSON.stringify(path)} in a guarded write: expected an absolute path such as "/app/config"`);
    }
    return path;
  }

  /**
   * The live ZooKeeper session's connection, opening one when there is none or the last was
   * lost. Concurrent callers share one open.
   */
  connection(): Promise<ZkConnection> {
    if (!this.#closed && this.#conn?.alive) return Promise.resolve(this.#conn);
    return this.#openConnection();
  }

  async #openConnection(): Promise<ZkConnection> {
    this.#checkOpen();
    if (this.#conn?.alive) return this.#conn;
    if (!this.#opening) {
      this.#opening = (async () => {
        const conn = await ZkConnection.open(this.options);
        try {
          if (this.options.chroot !== '') await this.ensurePath(conn, this.options.chroot);
        } catch (error) {
          await conn.close();
          throw error;
        }
        if (this.#closed) {
          await conn.close();
          throw new ClosedError('the coordinator was closed');
        }
        this.#conn = conn;
        return conn;
      })().finally(() => {
        this.#opening = undefined;
      });
    }
    return this.#opening;
  }

  /** Creates `path` and its missing ancestors as persistent nodes with {@link acl}. */
  async ensurePath(conn: ZkConnection, path: string): Promise<void> {
    const segments = path.split('/').filter(Boolean);
    let current = '';
    for (const segment of segments) {
      current += `/${segment}`;
      try {
        await conn.create(current, Buffer.alloc(0), this.acl, CreateMode.PERSISTENT);
      } catch (error) {
        const code = codeOf(error);
        if (code === Code.NODE_EXISTS) continue;
        throw toBatonError(error, `creating ${current}`, this.options);
      }
    }
  }

  session(): Promise<Session> {
    // The common case answers at once, so an enqueue goes out in the caller's own tick.
    const current = this.#session;
    if (!this.#closed && current?.connection.alive && current.connection === this.#conn) return Promise.resolve(current);
    return this.#openSession();
  }

  async #openSession(): Promise<Session> {
    const conn = await this.connection();
    if (this.#session?.connection !== conn) this.#session = new ZooKeeperSession(this, conn);
    return this.#session;
  }

  /**
   * The current session's id and password, for tests that expire it from the server side (a
   * second client that joins the session and closes it ends it for both).
   */
  sessionCredentials(): { id: Buffer; password: Buffer; endpoints: string } | undefined {
    const conn = this.#conn;
    if (!conn?.alive) return undefined;
    return { id: conn.client.getSessionId(), password: conn.client.getSessionPassword(), endpoints: conn.endpoints };
  }

  /** Runs a read, retrying it after a connection loss, and on a new session after a lost one. */
  async #read<T>(what: string, run: (conn: ZkConnection) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const conn = await this.connection();
      try {
        return await run(conn);
      } catch (error) {
        const code = codeOf(error);
        const retriable = code === Code.CONNECTION_LOSS || (error instanceof SessionLostError && !this.#closed);
        if (retriable && attempt < MAX_ATTEMPTS) {
          if (code === Code.CONNECTION_LOSS) await conn.whenConnected().catch(() => {});
          continue;
        }
        throw toBatonError(error, what, this.options);
      }
    }
  }

  /** Lists `parent` on `conn`; a missing parent is an empty queue. */
  async listWith(conn: ZkConnection, parent: string): Promise<QueueEntry[]> {
    try {
      return orderChildren(parent, (await conn.getChildren(parent)).children);
    } catch (error) {
      if (codeOf(error) === Code.NO_NODE) return [];
      throw error;
    }
  }

  async list(prefix: string): Promise<QueueEntry[]> {
    const parent = this.prefixPath(prefix);
    return this.#read(`listing ${parent}`, (conn) => this.listWith(conn, parent));
  }

  async get(key: string): Promise<KeyState | undefined> {
    return this.#read(`reading ${key}`, async (conn) => {
      try {
        const { data, stat } = await conn.getData(key);
        return stateOf(data, stat);
      } catch (error) {
        if (codeOf(error) === Code.NO_NODE) return undefined;
        throw error;
      }
    });
  }

  // Not async: the promise returned is abortable's own, which does not report a rejection
  // nobody awaits (recipes drop waits they no longer need, e.g. when the coordinator closes).
  waitForDelete(key: string, signal: AbortSignal): Promise<void> {
    return abortable<void>(signal, (resolve, reject) => {
      let stopped = false;
      let untrack = () => {};
      // Arms a getData watch (set together with the read, so nothing slips between) and resolves
      // once the node is gone. A data change re-arms; a lost session re-checks on a new one.
      const arm = async (): Promise<void> => {
        untrack();
        if (stopped) return;
        let conn: ZkConnection;
        try {
          conn = await this.connection();
        } catch (error) {
          reject(error);
          return;
        }
        if (stopped) return;
        untrack = conn.track(() => {
          if (!stopped) void arm();
        });
        const watcher = (event: Event) => {
          if (stopped) return;
          if (event.getType() === NODE_DELETED) resolve();
          else void arm();
        };
        try {
          await conn.getData(key, watcher);
        } catch (error) {
          const code = codeOf(error);
          if (code === Code.NO_NODE) resolve();
          else if (code === Code.CONNECTION_LOSS) {
            await conn.whenConnected().catch(() => {});
            void arm();
          } else if (error instanceof SessionLostError || !conn.alive) {
            // the track() callback re-arms on a new session
          } else reject(toBatonError(error, `watching ${key}`, this.options));
        }
      };
      // A hold's watch on its own node (a key this session created and still holds) is armed a
      // little late: most holds end before, and then never cost a watch. Nothing is missed, since
      // arming reads the node: a deletion in between is seen at once, only later.
      const own = this.#session?.ownKeys.has(key) ?? false;
      const timer = own ? setTimeout(() => void arm(), OWN_WATCH_DELAY_MS) : undefined;
      if (!own) void arm();
      return () => {
        stopped = true;
        clearTimeout(timer);
        untrack();
      };
    });
  }

  async watchKey(key: string, signal: AbortSignal): Promise<Watched<KeyState | undefined>> {
    return this.#read(`watching ${key}`, async (conn) => {
      const { promise, fire } = this.#changeSignal(conn, signal);
      try {
        const { data, stat } = await conn.getData(key, fire);
        return { current: stateOf(data, stat), changed: promise };
      } catch (error) {
        if (codeOf(error) !== Code.NO_NODE) throw error;
      }
      // Absent: watch for its creation. exists() sets the watch and reads in one request.
      const stat = await conn.exists(key, fire);
      if (stat === null) return { current: undefined, changed: promise };
      // Created between the two requests: report it as a change, the caller reads again.
      fire();
      return { current: undefined, changed: promise };
    });
  }

  async watchPrefix(prefix: string, signal: AbortSignal): Promise<Watched<QueueEntry[]>> {
    const parent = this.prefixPath(prefix);
    return this.#read(`watching ${parent}`, async (conn) => {
      const { promise, fire } = this.#changeSignal(conn, signal);
      try {
        const { children } = await conn.getChildren(parent, fire);
        return { current: orderChildren(parent, children), changed: promise };
      } catch (error) {
        if (codeOf(error) !== Code.NO_NODE) throw error;
      }
      const stat = await conn.exists(parent, fire);
      if (stat !== null) fire();
      return { current: [], changed: promise };
    });
  }

  /**
   * A one-shot change promise for a watch on `conn`: resolved by the watcher, or (spuriously, as
   * the contract allows) when the session ends, since that session's watches never fire.
   */
  #changeSignal(conn: ZkConnection, signal: AbortSignal): { promise: Promise<void>; fire: () => void } {
    let fire: () => void = () => {};
    const promise = abortable<void>(signal, (resolve) => {
      const untrack = conn.track(() => resolve());
      fire = () => resolve();
      return untrack;
    });
    return { promise, fire: () => fire() };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const opening = this.#opening;
    await this.#conn?.close();
    if (opening) await opening.then((conn) => conn.close()).catch(() => {});
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('the coordinator was closed');
  }
}

/** The `zookeeper://` (and `zk://`) backend module. */
export const zookeeperBackend: BackendModule<ZooKeeperOptions> = {
  kind: 'zookeeper',
  schemes: ['zookeeper', 'zk'],
  fromUrl: optionsFromUrl,
  fromObject: optionsFromObject,
  async connect(options) {
    const backend = new ZooKeeperBackend(options);
    // Connect now, so a wrong address or a refused chroot fails at connect(), not later.
    await backend.connection();
    return backend;
  },
};
