/**
 * A Baton session on ZooKeeper: one ZooKeeper session's contender nodes and guarded writes.
 * Enqueue is one round trip: a `create2` (ZooKeeper 3.5's create, whose answer carries the node's
 * Stat: its `czxid` is the token) with the listing behind it in the same write; where the last
 * enqueue under the parent was alone ({@link SoloParents}), that listing also sets a child watch on
 * the parent, which serves as the own-node watch while the node is alone. After a connection loss
 * during a create, the own node is found by its uuid (protected create) instead of creating a
 * second one. The own-node watch is armed before the enqueue resolves and before any wait its
 * caller arms.
 * @module
 */
import zookeeper from 'node-zookeeper-client';
import type { ACL } from 'node-zookeeper-client';
import { OutcomeUnknownError } from '../../errors.js';
import { raceSignal } from '../abortable.js';
import type { Enqueued, EnqueueRead, GuardedOp, OwnKey, Role, Session, Standing } from '../contract.js';
import { keysOfStanding } from '../standing.js';
import { GuaranteedRemovals } from '../guaranteed-delete.js';
import { OwnKeyWatches } from '../own-keys.js';
import type { ZooKeeperOptions } from './config.js';
import { Code, codeOf, MultiError, type MultiOp, ZkConnection, zxidOf } from './connection.js';
import { ChildChangeWatch, ensurePath, listChildren, listSynced, watchDeletion, watchDeletionThrough } from './nodes.js';
import type { SoloParents } from './solo-parents.js';
import type { ChildrenView } from './children-view.js';
import type { ContenderViews, ViewUse } from './followed-names.js';
import { lastSegment, parentOf } from '../key-paths.js';
import { retrying } from './retry.js';
import { toBatonError } from './errors.js';
import { findByUuid, isProtectedName, newNodeUuid, nodeNamePrefix, orderChildren } from './naming.js';
import { noteFirst } from './known-heads.js';
import { noteDeleted } from './known-deletions.js';

const { CreateMode } = zookeeper;
const EMPTY = Buffer.alloc(0);
/** How often an enqueue creates a missing parent again (someone may be deleting it). */
const MAX_PARENT_ATTEMPTS = 5;
/** How often a conditional write is built again after losing a race (nothing was written). */
const MAX_RACE_ATTEMPTS = 5;
/**
 * How often an enqueue waiting for the name's view to show its new node looks again at whether
 * waiting still makes sense. The view shows the node a moment after the create's answer, usually;
 * on the feed's own session before that answer is read, or, when its feed is starting (a burst of
 * enqueues that started it sends its listing behind every create), with that listing. A view that
 * runs late (a feed session with much to read, a busy process) still shows it, so the enqueue
 * waits for as long as the feed's session is in contact, up to its own session's timeout: a
 * thousand enqueues that each gave up after a fixed time would each list the queue, and the
 * listings, tens of megabytes, would make the feed later still (10,000 waiters over 100
 * coordinators lost sessions that way: bench/waiters.mjs). It lists when the feed is between
 * sessions or out of contact after a check, or its own node or session is gone.
 */
const SHOW_CHECK_MS = 1000;

/** What a session needs from its backend. */
export interface SessionHost {
  readonly options: ZooKeeperOptions;
  /** The ACL every node is created with. */
  readonly acl: ACL[];
  /** Where the last enqueue was alone, and the name its next node there should get. */
  readonly solo: SoloParents;
  /** Which enqueues read their standing from the name's followed view (./followed-names.ts). */
  readonly views: ContenderViews;
  /** `<chroot>/<prefix>`. */
  prefixPath(prefix: string): string;
}

/** The session's view: one ZooKeeper session, its ephemeral nodes and its writes. */
export class ZooKeeperSession implements Session {
  readonly id: string;
  readonly signal: AbortSignal;
  readonly #own: OwnKeyWatches;
  readonly #removals: GuaranteedRemovals;

  constructor(
    private readonly host: SessionHost,
    readonly connection: ZkConnection,
  ) {
    this.id = connection.sessionId;
    this.signal = connection.signal;
    this.#own = new OwnKeyWatches(this.signal);
    this.#removals = new GuaranteedRemovals({
      signal: this.signal,
      ttlMs: connection.timeout,
      // Any answer to the delete confirms the node gone: deleted now, or not there with this czxid.
      attemptRemove: (key, revision) => this.#deleteIf(key, revision),
      // The same attempt bounds itself: every request ends within the connection's loss deadline
      // (an unanswered one ends the session). So a release makes no AbortController and no timer
      // for its removal; the session's one deadline timer gives up on a slow attempt, and the
      // next one's answer comes after it (the server answers a session in order).
      attemptRemoveWithin: (key, revision) => this.#deleteIf(key, revision),
      end: () => this.end(),
    });
  }

  /** A promise chain, not an async function: one step less on every acquire. */
  enqueue(prefix: string, role: Role, value: string, signal?: AbortSignal, read: EnqueueRead = 'listing'): Promise<Enqueued> {
    let parent: string;
    let uuid: string;
    let use: ViewUse | undefined;
    let entering: Promise<Enqueued>;
    try {
      parent = this.host.prefixPath(prefix);
      uuid = newNodeUuid();
      // Standing only (mutex, election): from the name's view where the group follows it.
      use = read === 'standing' ? this.host.views.enter(parent, this.host.solo.wasAlone(parent)) : undefined;
      entering = this.#enqueue(parent, uuid, role, value, use);
    } catch (error) {
      return Promise.reject(error);
    }
    return raceSignal(entering, signal).then(
      (entered) => {
        // The first of the listing (or the node itself, created alone) is first for good.
        noteFirst(entered.entries);
        return entered;
      },
      (error: unknown) => {
        // The create may have happened (or may still): once the attempt has settled, make sure no
        // node of it remains, found by its uuid, or end the session.
        entering.then(
          (entered) => {
            entered.own.dispose();
            void this.remove(entered.key, entered.revision);
          },
          () => {
            use?.end();
            void this.#withdraw(parent, uuid);
          },
        );
        throw toBatonError(error, `creating a node under ${parent}`, this.host.options);
      },
    );
  }

  /**
   * Removes the node of an enqueue that failed, found by its uuid (it may or may not exist).
   * Retried until confirmed absent; if that takes longer than the session timeout, the session is
   * ended, so the node cannot outlive the failure in a live session.
   */
  async #withdraw(parent: string, uuid: string): Promise<void> {
    const giveUpAt = performance.now() + this.connection.timeout;
    const deadline = AbortSignal.timeout(this.connection.timeout);
    try {
      // Synced first: a listing from a server behind the leader could miss the node (see listSynced).
      const children = await retrying(this.connection, `listing ${parent}`, this.host.options, () => listSynced(this.connection, parent), deadline);
      const name = findByUuid(children, uuid);
      if (name !== undefined) await this.#removals.remove(`${parent}/${name}`, undefined, deadline);
    } catch (error) {
      if (this.signal.aborted || codeOf((error as { cause?: unknown }).cause) === Code.NO_NODE) return;
      if (performance.now() >= giveUpAt || deadline.aborted) await this.end();
      else return this.#withdraw(parent, uuid);
    }
  }

  /** Ends the ZooKeeper session: the server deletes its ephemeral nodes at once. */
  async end(): Promise<void> {
    await this.connection.close();
  }

  remove(key: string, revision: bigint, signal?: AbortSignal): Promise<void> {
    return this.#removals.remove(key, revision, signal);
  }

  /**
   * The own-node watch, armed before the enqueue's answer is handed to anyone, so no deletion of
   * the node can go unobserved, and its answer or event comes before that of any wait the caller
   * arms next (the server answers a session in order). `parentWatch`: the child watch the
   * enqueue's listing set on the parent, which showed the node as the only child; it stands in for
   * the node's own watch until the children change (see watchDeletionThrough). Else a getData
   * watch on the node, sent now.
   */
  #watchOwn(key: string, parentWatch?: ChildChangeWatch, use?: ViewUse): OwnKey {
    const conn = this.connection;
    return this.#own.arm(
      key,
      (onDeleted, onFailed) => (parentWatch ? watchDeletionThrough(conn, key, parentWatch, onDeleted, onFailed) : watchDeletion(conn, key, onDeleted, onFailed)),
      use?.end,
    );
  }

  /**
   * One round trip, in one write: a `create2` (its answer carries the node's Stat, whose `czxid`
   * is the token) and the listing behind it; the server answers a session's requests in the order
   * they were sent, so the listing sees the create. Where the last enqueue under the parent was
   * alone ({@link SoloParents}), the listing also sets a child watch on the parent: if it shows the
   * node alone, that watch is the node's own-node watch until the children change (the node's
   * deletion is such a change), so an uncontended acquire sends no watch of its own. Otherwise the
   * node's own getData watch goes out on the answers, before the enqueue resolves.
   */
  async #enqueue(parent: string, uuid: string, role: Role, value: string, use: ViewUse | undefined): Promise<Enqueued> {
    const conn = this.connection;
    const solo = this.host.solo;
    const path = `${parent}/${nodeNamePrefix(uuid, role)}`;
    const data = value === '' ? EMPTY : Buffer.from(value, 'utf8');
    const view = use?.view;
    for (let attempt = 1; ; attempt++) {
      if (this.signal.aborted) throw this.signal.reason;
      const created = conn.create2(path, data, this.host.acl, CreateMode.EPHEMERAL_SEQUENTIAL);
      if (view !== undefined) {
        // No listing: the name's view tells where the node stands.
        const [createdResult] = await Promise.allSettled([created]);
        if (createdResult.status === 'fulfilled') return this.#enteredThroughView(parent, role, createdResult.value, view, use);
        const found = await this.#afterFailedCreate(createdResult.reason, attempt, parent, uuid, use);
        if (found) return found;
        continue;
      }
      const parentWatch = solo.wasAlone(parent) ? new ChildChangeWatch() : undefined;
      // The listing's outcome as a value (it never rejects), so that a failed create leaves no
      // unhandled rejection behind; lighter than Promise.allSettled over the two.
      const listed = conn.getChildren(parent, parentWatch?.watcher).then(childrenOf, failedListing);
      let createdResult: { path: string; stat: { czxid: Buffer } } | undefined;
      let createFailure: unknown;
      try {
        createdResult = await created;
      } catch (error) {
        createFailure = error;
      }
      const children = await listed;
      if (createdResult !== undefined) {
        const { path: key, stat } = createdResult;
        const entries = children !== undefined ? orderChildren(parent, children) : undefined;
        const alone = entries !== undefined && entries.length === 1 && entries[0]!.key === key;
        if (alone) solo.noteAlone(parent);
        else solo.noteCrowded(parent);
        if (!alone) parentWatch?.drop();
        const own = this.#watchOwn(key, alone ? parentWatch : undefined, use);
        try {
          return { key, revision: zxidOf(stat.czxid), entries: entries ?? (await listChildren(conn, parent)), own };
        } catch (error) {
          own.dispose();
          throw error;
        }
      }
      parentWatch?.drop();
      const found = await this.#afterFailedCreate(createFailure, attempt, parent, uuid, use);
      if (found) return found;
    }
  }

  /**
   * After a create that failed: a missing parent is made (up to MAX_PARENT_ATTEMPTS), and after a
   * connection loss the node is looked for by its uuid (a protected create: it may have been made).
   * Resolves with the node when found, with undefined when the create is to be sent again, and
   * throws anything else.
   */
  async #afterFailedCreate(reason: unknown, attempt: number, parent: string, uuid: string, use: ViewUse | undefined): Promise<Enqueued | undefined> {
    const code = codeOf(reason);
    if (code === Code.NO_NODE && attempt < MAX_PARENT_ATTEMPTS) {
      await ensurePath(this.connection, parent, this.host.acl, this.host.options);
      return undefined;
    }
    if (code === Code.CONNECTION_LOSS) return this.#recoverProtected(parent, uuid, use);
    throw toBatonError(reason, `creating a node under ${parent}`, this.host.options);
  }

  /**
   * The enqueue's end under a followed name: the own-node watch sent now, on the create's answer,
   * then where the node stands as the view shows it once it shows the node (./children-view.ts);
   * the listing only when the view does not show it in time.
   */
  async #enteredThroughView(parent: string, role: Role, created: { path: string; stat: { czxid: Buffer } }, view: ChildrenView, use: ViewUse | undefined): Promise<Enqueued> {
    const { path: key } = created;
    const revision = zxidOf(created.stat.czxid);
    const own = this.#watchOwn(key, undefined, use);
    try {
      const standing = await standingIn(view, key, own, this.connection);
      if (standing !== undefined) {
        if (standing.present && standing.head?.key === key && view.size === 1) this.host.solo.noteAlone(parent);
        else this.host.solo.noteCrowded(parent);
        return { key, revision, entries: standing.present ? keysOfStanding(standing, key, role, revision) : [], standing, own };
      }
      this.host.solo.noteCrowded(parent);
      return { key, revision, entries: await listChildren(this.connection, parent), own };
    } catch (error) {
      own.dispose();
      throw error;
    }
  }

  /**
   * After a connection loss during create: our node if the create went through, else undefined
   * (then the caller creates again). Retried over further connection losses until one or the other
   * is known; the uuid is this attempt's alone, so a node carrying it is ours.
   */
  async #recoverProtected(parent: string, uuid: string, use?: ViewUse): Promise<Enqueued | undefined> {
    const conn = this.connection;
    const options = this.host.options;
    const children = await retrying(conn, `finding node ${uuid} under ${parent}`, options, async () => {
      try {
        // Synced first: the create may have been committed through the server this session lost,
        // and the server it reconnected to may not have applied it yet (see listSynced).
        return await listSynced(conn, parent);
      } catch (error) {
        // No parent, so no node of ours (a child keeps its parent): the create did not happen,
        // as when the first enqueue under a new name loses its connection before the parent is
        // made. The caller creates again, the parent first.
        if (codeOf(error) === Code.NO_NODE) return [];
        throw error;
      }
    });
    const name = findByUuid(children, uuid);
    if (name === undefined) return undefined;
    const key = `${parent}/${name}`;
    const own = this.#watchOwn(key, undefined, use);
    try {
      const stat = await retrying(conn, `reading ${key}`, options, () => conn.exists(key));
      // Found in the listing but gone now: deleted by someone else; creating again is right.
      if (stat === null) {
        own.dispose();
        return undefined;
      }
      return { key, revision: zxidOf(stat.czxid), entries: orderChildren(parent, children), own };
    } catch (error) {
      own.dispose();
      throw error;
    }
  }

  /**
   * One removal attempt: resolves once the node is confirmed gone (deleted now, absent, or present
   * with another czxid); rejects when the outcome is unknown, and the removal tries again. A node
   * confirmed gone is noted for the process's position feeds before the release resolves
   * (./known-deletions.ts): no report made after it counts the node.
   */
  #deleteIf(key: string, revision: bigint | undefined): Promise<void> {
    const conn = this.connection;
    const failed = (error: unknown): void => {
      const code = codeOf(error);
      if (code === Code.NO_NODE) noteDeleted(key); // only noted for a uuid name: this very node
      if (code === Code.NO_NODE || code === Code.BAD_VERSION) return;
      throw error;
    };
    if (revision === undefined || isProtectedName(lastSegment(key))) {
      // `_c_<uuid>` names are unique for ever: the path alone identifies this creation. A chain,
      // not an async function: the release's one delete takes one step.
      return conn.remove(key).then(() => noteDeleted(key), failed);
    }
    return conn
      .exists(key)
      .then((stat) => (stat === null || zxidOf(stat.czxid) !== revision ? undefined : conn.remove(key, stat.version)))
      .then(undefined, failed);
  }

  async updateIf(key: string, revision: bigint, value: string, signal?: AbortSignal): Promise<boolean> {
    const conn = this.connection;
    const options = this.host.options;
    const data = Buffer.from(value, 'utf8');
    for (let attempt = 1; ; attempt++) {
      const stat = await retrying(conn, `reading ${key}`, options, () => conn.exists(key), signal);
      if (stat === null || zxidOf(stat.czxid) !== revision) return false;
      try {
        await raceSignal(conn.setData(key, data, stat.version), signal);
        return true;
      } catch (error) {
        const code = codeOf(error);
        if (code === Code.NO_NODE) return false;
        // Changed between the read and the write (not by us: nothing was written): read again.
        if (code === Code.BAD_VERSION && attempt < MAX_RACE_ATTEMPTS) continue;
        if (code === Code.CONNECTION_LOSS) throw new OutcomeUnknownError(`ZooKeeper connection lost while updating ${key}: the update may or may not have been applied`, { cause: error });
        throw toBatonError(error, `updating ${key}`, options);
      }
    }
  }

  /**
   * A multi: `check` of the own node, then the writes. `put` becomes a create or a versioned
   * setData (decided by a read just before), `delete` a versioned delete of a node that exists.
   * If one of those reads went stale before the multi ran, the multi fails on that op and is
   * built again; if it fails on the check, the hold is gone and nothing was written.
   */
  async guardedWrite(key: string, revision: bigint, ops: readonly GuardedOp[], signal?: AbortSignal): Promise<boolean> {
    const conn = this.connection;
    const options = this.host.options;
    const read = (path: string) => retrying(conn, `reading ${path}`, options, () => conn.exists(path), signal);
    for (let attempt = 1; ; attempt++) {
      const own = await read(key);
      if (own === null || zxidOf(own.czxid) !== revision) return false;
      const multi: MultiOp[] = [{ check: key, version: own.version }];
      for (const op of ops) {
        if ('put' in op) {
          const path = this.host.prefixPath(op.put);
          const stat = await read(path);
          if (stat === null) {
            await ensurePath(conn, parentOf(path), this.host.acl, this.host.options);
            multi.push({ create: path, data: Buffer.from(op.value, 'utf8'), acl: this.host.acl, mode: CreateMode.PERSISTENT });
          } else {
            multi.push({ setData: path, data: Buffer.from(op.value, 'utf8'), version: stat.version });
          }
        } else {
          const path = this.host.prefixPath(op.delete);
          const stat = await read(path);
          if (stat !== null) multi.push({ remove: path, version: stat.version });
        }
      }
      try {
        await raceSignal(conn.multi(multi), signal);
        return true;
      } catch (error) {
        if (error instanceof MultiError) {
          // Nothing was written. The check failed: deleted (the hold is gone) or its data changed
          // meanwhile (proclaim); or a target changed after it was read: build it again.
          if (error.index === 0 && error.code === Code.NO_NODE) return false;
          const raced = error.index === 0 || error.code === Code.NODE_EXISTS || error.code === Code.NO_NODE || error.code === Code.BAD_VERSION;
          if (raced && attempt < MAX_RACE_ATTEMPTS) continue;
          throw toBatonError(Object.assign(new Error(`op ${error.index} failed with code ${error.code}`), { code: error.code }), `guarded write under ${key}`, options);
        }
        if (codeOf(error) === Code.CONNECTION_LOSS) {
          throw new OutcomeUnknownError(`ZooKeeper connection lost during a guarded write under ${key}: it may or may not have been applied`, { cause: error });
        }
        throw toBatonError(error, `guarded write under ${key}`, options);
      }
    }
  }
}

/** A listing's children; undefined when it failed (the create's outcome decides what follows). */
function childrenOf(listing: { children: string[] }): string[] {
  return listing.children;
}

function failedListing(): undefined {
  return undefined;
}

/**
 * Where the node `key`, just created, stands as the name's view shows it once it shows the node
 * (see ./children-view.ts: a state of the queue at or after the create); undefined when the view
 * cannot be waited for (see {@link SHOW_CHECK_MS}), and the caller lists the children. A node whose
 * own watch already saw it deleted is not present.
 */
async function standingIn(view: ChildrenView, key: string, own: OwnKey, conn: ZkConnection): Promise<Standing | undefined> {
  let shown = view.shows(key);
  const giveUpAt = performance.now() + conn.timeout;
  while (!shown) {
    const left = giveUpAt - performance.now();
    if (left <= 0) break;
    shown = await view.whenShows(key, Math.min(SHOW_CHECK_MS, left));
    if (shown || own.lost || !conn.alive) break;
    // A feed on this very session shows the node before, or with, anything read after its create.
    const feed = view.feedConnection;
    if (feed !== conn && feed?.connected !== true) break;
  }
  if (own.lost) return { present: false, head: undefined, predecessor: undefined };
  return shown ? view.standingOf(key) : undefined;
}
