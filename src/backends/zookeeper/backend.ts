/**
 * A coordinator's connection to a ZooKeeper ensemble: opens and reopens the supervised client,
 * maps prefixes to paths under the chroot, and serves reads and watches. Waits use `getData`
 * watches rather than `exists` watches: `exists` on a node that is already gone leaves a creation
 * watch behind for the rest of the session, `getData` does not.
 * @module
 */
import type { ACL } from 'node-zookeeper-client';
import { ClosedError, InvalidArgumentError, SessionLostError } from '../../errors.js';
import { HealthBoard } from '../../observability/health.js';
import { describe } from '../../validate.js';
import { abortable, raceSignal } from '../abortable.js';
import type { Backend, KeyState, PlainKeys, PrefixFollower, QueueEntry, ScanResult, Session, Standing, Waiting, Watched } from '../contract.js';
import { aclFor } from './acl.js';
import type { ZooKeeperOptions } from './config.js';
import { Code, codeOf, ZkConnection } from './connection.js';
import { toBatonError } from './errors.js';
import { ZooKeeperValues } from './values.js';
import { ZooKeeperSession, type SessionHost } from './session.js';
import { retrying } from './retry.js';
import { orderChildren, sequenceOf } from './naming.js';
import { scanZooKeeper } from './scan.js';
import { lastSegment } from '../key-paths.js';
import { type FeedGroup, type FeedMember, joinFeedGroup } from './feed-group.js';
import { ContenderViews, followedView, followForPositions } from './followed-names.js';
import type { ChildrenView } from './children-view.js';
import { ensurePath, listChildren, stateOf } from './nodes.js';
import { waitForDeletion } from './blocker-wait.js';
import { noteFirst } from './known-heads.js';
import { SoloParents } from './solo-parents.js';

/** A coordinator's connection to a ZooKeeper ensemble. */
export class ZooKeeperBackend implements Backend, FeedMember {
  readonly kind = 'zookeeper' as const;
  readonly acl: ACL[];
  #conn: ZkConnection | undefined;
  #opening: Promise<ZkConnection> | undefined;
  #session: ZooKeeperSession | undefined;
  #closed = false;
  /** What every session of this backend needs from it, and nothing more. */
  readonly #sessionHost: SessionHost;

  /** Contact, out of contact (with the time left), lost: what `coord.health()` reports. */
  readonly health = new HealthBoard('zookeeper');

  /**
   * A waiter's blocker wait ends by itself when its own node is lost (see ./blocker-wait.ts), so a
   * mutex waiter with no limits makes no AbortController for its own node.
   */
  readonly endsWaitWithOwnKey = true as const;

  /**
   * Opening the session, the enqueue and the reads made while entering race their signal only
   * through raceSignal and retrying, which add no listener to a signal that never aborts: an
   * acquire with no limits makes no AbortController of its own.
   */
  readonly entersWithoutListening = true as const;

  /** Plain keys (versioned values, barriers) as persistent nodes. */
  readonly values: PlainKeys = new ZooKeeperValues(this);

  /**
   * The process's coordinators that reach the ensemble as this one does: their queue positions
   * share one feed per name, on any of their sessions (./feed-group.ts).
   */
  readonly #feeds: { readonly group: FeedGroup; readonly leave: () => void };

  constructor(readonly options: ZooKeeperOptions) {
    this.acl = aclFor(options.auth);
    this.#feeds = joinFeedGroup(options, this);
    this.#sessionHost = {
      options,
      acl: this.acl,
      solo: new SoloParents(),
      views: new ContenderViews(this.#feeds.group, this),
      prefixPath: (prefix) => this.prefixPath(prefix),
    };
  }

  /** The view of a queue parent when the group follows it (./followed-names.ts). */
  viewOf(parent: string): ChildrenView | undefined {
    return followedView(this.#feeds.group, parent);
  }

  /**
   * The last name given to {@link prefixPath} and its path, handed out again while the same name
   * comes back (a loop on one lock): the same string each time. The client keeps its watches in
   * objects keyed by path, and a string new to V8 is looked up in its string table before it can
   * serve as a key (a microsecond or more each time, measured under the profiler on a loop of
   * uncontended acquires), where this one is looked up once.
   */
  #lastPrefix: string | undefined;
  #lastPath = '';

  /**
   * `<chroot>/<prefix>`. A path in the server's reserved `/zookeeper` tree (a name starting with
   * `zookeeper` and no chroot) is refused: the server keeps its quotas and config there.
   */
  prefixPath(prefix: string): string {
    if (prefix === this.#lastPrefix) return this.#lastPath;
    const path = `${this.options.chroot}/${prefix}`;
    if (path === '/zookeeper' || path.startsWith('/zookeeper/')) {
      throw new InvalidArgumentError(
        `invalid name ${describe(prefix)}: without a chroot it would be the path ${describe(path)}, inside the /zookeeper tree the ZooKeeper server reserves; use another name or a chroot`,
      );
    }
    this.#lastPrefix = prefix;
    this.#lastPath = path;
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

  /** The session's connection while it lives, opening none (a feed of the group looks for one, ./feed-group.ts). */
  get liveConnection(): ZkConnection | undefined {
    return !this.#closed && this.#conn?.alive ? this.#conn : undefined;
  }

  /**
   * Opens the first session now, so that a wrong address or refused credentials fail at
   * `connect()`. When `signal` aborts first, rejects with its reason and leaves nothing open: the
   * client stops trying at once.
   */
  async connect(signal: AbortSignal): Promise<void> {
    await raceSignal(this.#openConnection(signal), signal);
  }

  async #openConnection(signal?: AbortSignal): Promise<ZkConnection> {
    this.#checkOpen();
    if (this.#conn?.alive) return this.#conn;
    if (!this.#opening) {
      this.#opening = (async () => {
        // The chroot is not created here but by the first write under it, with its other
        // missing parents: reads (baton status, leader, observe) must never write.
        const conn = await ZkConnection.open(this.options, { signal });
        if (this.#closed) {
          await conn.close();
          throw new ClosedError('the coordinator was closed');
        }
        this.#conn = conn;
        this.#reportHealth(conn);
        return conn;
      })().finally(() => {
        this.#opening = undefined;
      });
    }
    return this.#opening;
  }

  /**
   * Tells the health board what the connection sees: contact with the session timeout the server
   * granted, out of contact on a disconnect (lost at the last answer through the leader plus
   * the timeout), contact again on a reconnect to the same session, lost when it ends.
   */
  #reportHealth(conn: ZkConnection): void {
    this.health.sessionTtl(conn.timeout, this.options.sessionTimeout);
    this.health.contact(conn.sessionId);
    const onDisconnected = () => {
      if (conn.alive) this.health.outOfContact(conn.lossAt);
    };
    const onConnected = () => {
      if (conn.alive) this.health.contact(conn.sessionId);
    };
    conn.client.on('disconnected', onDisconnected);
    conn.client.on('connected', onConnected);
    conn.signal.addEventListener(
      'abort',
      () => {
        conn.client.removeListener('disconnected', onDisconnected);
        conn.client.removeListener('connected', onConnected);
        if (!(conn.signal.reason instanceof ClosedError)) this.health.lost(conn.signal.reason);
      },
      { once: true },
    );
  }

  /** Creates `path` and its missing ancestors as persistent nodes with {@link acl}. */
  ensurePath(conn: ZkConnection, path: string): Promise<void> {
    return ensurePath(conn, path, this.acl, this.options);
  }

  // The recipes bound the wait with their signal; opening a session carries on for later callers.
  session(_signal?: AbortSignal): Promise<Session> {
    // The common case answers at once, so an enqueue goes out in the caller's own tick.
    const current = this.liveSession();
    if (current) return Promise.resolve(current);
    return this.#openSession();
  }

  liveSession(): Session | undefined {
    const current = this.#session;
    return !this.#closed && current?.connection.alive && current.connection === this.#conn ? current : undefined;
  }

  async #openSession(): Promise<Session> {
    const conn = await this.connection();
    if (this.#session?.connection !== conn) this.#session = new ZooKeeperSession(this.#sessionHost, conn);
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

  /**
   * Runs a read, retrying it after a connection loss ({@link retrying}), and once on a new
   * session after a lost one. Rejects with `signal.reason` when `signal` aborts.
   */
  async read<T>(what: string, run: (conn: ZkConnection) => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const conn = await raceSignal(this.connection(), signal);
      try {
        return await retrying(conn, what, this.options, () => run(conn), signal);
      } catch (error) {
        const sessionLost = error instanceof SessionLostError && !this.#closed && !signal?.aborted;
        if (sessionLost && attempt < 2) continue;
        throw error;
      }
    }
  }

  async list(prefix: string, signal?: AbortSignal): Promise<QueueEntry[]> {
    const parent = this.prefixPath(prefix);
    const entries = await this.read(`listing ${parent}`, (conn) => listChildren(conn, parent), signal);
    noteFirst(entries);
    return entries;
  }

  async get(key: string, signal?: AbortSignal): Promise<KeyState | undefined> {
    // A contender key as returned (an absolute path), or a name under the chroot (a guarded-write key).
    const path = key.startsWith('/') ? key : this.prefixPath(key);
    return this.read(`reading ${key}`, async (conn) => {
      try {
        const { data, stat } = await conn.getData(path);
        return stateOf(data, stat);
      } catch (error) {
        if (codeOf(error) === Code.NO_NODE) return undefined;
        throw error;
      }
    }, signal);
  }

  /**
   * Waits for a blocker's deletion (see ./blocker-wait.ts); ends by itself when the waiter's own
   * node is lost. A mutex or election waiter (its standing asked for) whose blocker was seen first
   * in line is handed its standing, first now, and reads nothing (see ./known-heads.ts).
   */
  waitForBlocker(key: string, _revision: bigint | undefined, signal: AbortSignal, waiter?: Waiting): Promise<Standing | void> {
    return waitForDeletion(this, key, signal, waiter);
  }

  async watchKey(key: string, signal: AbortSignal): Promise<Watched<KeyState | undefined>> {
    // A contender node (a name ending in the server's sequence) is never created again once
    // gone: watching for its creation would leave a watch on the server that never fires, for the
    // rest of the session, re-sent on every reconnect. Report it absent with no watch instead.
    if (sequenceOf(lastSegment(key)) !== undefined) {
      return this.read(`watching ${key}`, async (conn) => {
        const { promise, fire } = this.#changeSignal(conn, signal);
        try {
          const { data, stat } = await conn.getData(key, fire);
          return { current: stateOf(data, stat), changed: promise };
        } catch (error) {
          if (codeOf(error) !== Code.NO_NODE) throw error;
          // No watch was set (a failed getData sets none); a spurious change at once is allowed.
          fire();
          return { current: undefined, changed: promise };
        }
      }, signal);
    }
    return this.read(`watching ${key}`, (conn) =>
      this.#watchedRead(conn, key, signal, async (watcher) => {
        const { data, stat } = await conn.getData(key, watcher);
        return stateOf(data, stat);
      }, undefined),
    );
  }

  async watchPrefix(prefix: string, signal: AbortSignal): Promise<Watched<QueueEntry[]>> {
    const parent = this.prefixPath(prefix);
    return this.read(`watching ${parent}`, (conn) =>
      this.#watchedRead(conn, parent, signal, async (watcher) => orderChildren(parent, (await conn.getChildren(parent, watcher)).children), []),
    );
  }

  /** The dashboard's scan (see scan.ts): retried like any read, on a new session after a lost one. */
  async scan(prefix: string, signal: AbortSignal): Promise<Watched<ScanResult>> {
    const root = prefix === '' ? this.options.chroot || '/' : this.prefixPath(prefix);
    return this.read(`scanning ${root}`, (conn) => scanZooKeeper(conn, this.options.chroot, root, signal), signal);
  }

  /**
   * Reads `path` with a watch set by the same request (`read`), so no change slips between. When
   * the node is absent, watches for its creation instead (`exists` also sets the watch and reads
   * in one request) and reports `absent`; a node created between the two requests counts as a
   * change at once, and the caller reads again.
   */
  async #watchedRead<T>(
    conn: ZkConnection,
    path: string,
    signal: AbortSignal,
    read: (watcher: () => void) => Promise<T>,
    absent: T,
  ): Promise<Watched<T>> {
    const { promise, fire } = this.#changeSignal(conn, signal);
    try {
      return { current: await read(fire), changed: promise };
    } catch (error) {
      if (codeOf(error) !== Code.NO_NODE) throw error;
    }
    if ((await conn.exists(path, fire)) !== null) fire();
    return { current: absent, changed: promise };
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

  /** One position view per name for the coordinators of the group (./feed-group.ts). */
  get followScope(): object {
    return this.#feeds.group;
  }

  /**
   * Follows a name's children through the group's one followed view of it (./followed-names.ts):
   * one persistent recursive watch (./follow.ts), on this coordinator's session while it lasts and
   * is in contact, else on another of the group's.
   */
  followPrefix(prefix: string, signal: AbortSignal, follower: PrefixFollower): void {
    // Not refused once this coordinator is closed: the view it would start may already serve
    // another coordinator's waiters (it ends by itself once the group has no member left).
    if (signal.aborted) return;
    followForPositions(this.#feeds.group, this, this.prefixPath(prefix), signal, follower);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Out of the group before the session ends: a feed on it moves to another member's.
    this.#feeds.leave();
    const opening = this.#opening;
    await this.#conn?.close();
    if (opening) await opening.then((conn) => conn.close()).catch(() => {});
    this.health.closed();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('the coordinator was closed');
  }
}
