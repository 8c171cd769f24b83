/**
 * `Backend.waitForBlocker` on ZooKeeper: a getData watch on the blocker, resolved by its
 * deletion. One object per wait, with methods, rather than a nest of closures: a waiting contender
 * keeps its wait for as long as it waits, so with thousands of waiters every closure and context
 * of it counts.
 *
 * Given the waiter's own-key watch (a mutex or election waiter), the wait ends by itself when the
 * own node is lost, the session's end included (the session's signal fans out to every own-key
 * watch): it then needs no listener on a signal, no AbortController of the own key's, and no
 * registration with the connection to arm itself again on a later session; and when the blocker
 * was seen first in line (./known-heads.ts), the waiter is handed its standing, first, instead of
 * listing the children again.
 * @module
 */
import type { OwnKey, Standing, Waiting } from '../contract.js';
import { lastSegment, parentOf } from '../key-paths.js';
import type { ChildrenView } from './children-view.js';
import { canAbort } from '../abortable.js';
import type { ZooKeeperOptions } from './config.js';
import type { ZkConnection } from './connection.js';
import { toBatonError } from './errors.js';
import { noteDeleted } from './known-deletions.js';
import { noteHead, takeHead } from './known-heads.js';
import { roleOf } from './naming.js';
import { watchDeletion } from './nodes.js';

/** What a blocker wait needs of the backend. */
export interface BlockerWaitHost {
  readonly options: ZooKeeperOptions;
  /** The live session's connection (a new one after a lost session). */
  connection(): Promise<ZkConnection>;
  /** The view of a queue parent when the process follows it (./followed-names.ts). */
  viewOf?(parent: string): ChildrenView | undefined;
}

/**
 * Resolves once `key` is gone; rejects with `signal.reason`, the own key's loss reason, or a
 * backend error. A waiter that asks for its standing (one with its own-key watch and no listing
 * asked for: the exclusive rule, where `key` is the node just ahead of it) is handed it when `key`
 * was seen first in line (see ./known-heads.ts): first now, with nothing ahead.
 */
export function waitForDeletion(host: BlockerWaitHost, key: string, signal: AbortSignal, waiter: Waiting | undefined): Promise<Standing | void> {
  const own = waiter?.own;
  const successor = own !== undefined && waiter?.listing !== true ? waiter : undefined;
  const promise = new Promise<Standing | void>((resolve, reject) => new BlockerWait(host, key, signal, own, successor, resolve, reject).start());
  // A wait the caller no longer needs may be dropped: its rejection is not reported as unhandled.
  promise.catch(() => {});
  return promise;
}

class BlockerWait {
  #settled = false;
  #stopWatch: (() => void) | undefined;
  #untrack: (() => void) | undefined;
  /** The connection and its reconnect count when the wait began: news seen there is in order. */
  #origin: ZkConnection | undefined;
  #originReconnects = 0;
  readonly #onAbort: (() => void) | undefined;

  constructor(
    readonly host: BlockerWaitHost,
    readonly key: string,
    readonly signal: AbortSignal,
    readonly own: OwnKey | undefined,
    /** The waiter just behind `key`, when it asks for its standing. */
    readonly successor: Waiting | undefined,
    readonly resolve: (standing: Standing | void) => void,
    readonly reject: (error: unknown) => void,
  ) {
    // A signal nothing can abort needs no listener.
    if (canAbort(signal)) this.#onAbort = () => this.#end(signal.reason);
  }

  start(): void {
    if (this.signal.aborted) return this.#end(this.signal.reason);
    if (this.#onAbort) this.signal.addEventListener('abort', this.#onAbort, { once: true });
    // Replaced by the next round's wait, or by the hold's own listener once granted.
    this.own?.onLoss((reason) => this.#end(reason));
    if (!this.#settled) void this.#arm();
  }

  /**
   * A getData watch on the live session's connection. Without an own-key watch, a lost session's
   * watches never fire, so the wait is armed again on the next session.
   */
  async #arm(): Promise<void> {
    this.#stop();
    if (this.#settled) return;
    let conn: ZkConnection;
    try {
      conn = await this.host.connection();
    } catch (error) {
      return this.#end(error);
    }
    if (this.#settled) return;
    if (this.#origin === undefined) {
      this.#origin = conn;
      this.#originReconnects = conn.reconnects;
    }
    if (this.own === undefined) {
      this.#untrack = conn.track(() => {
        if (!this.#settled) void this.#arm();
      });
    }
    this.#stopWatch = watchDeletion(
      conn,
      this.key,
      () => this.#gone(conn),
      (error) => this.#end(toBatonError(error, `watching ${this.key}`, this.host.options)),
    );
  }

  /**
   * The node is gone. A waiter acts on this at once, trusting that its own-node watch reported any
   * earlier deletion of its own node first; that holds for news in order only. On a reconnect the
   * server reports every watched node deleted meanwhile at once, in the order the client lists its
   * watches, not in the order of the deletions; news seen then, or on another session, may have
   * overtaken the deletion of the own node. It settles only once a read sent now is answered:
   * everything the server sent before has been delivered and reacted to.
   */
  #gone(conn: ZkConnection): void {
    if (conn === this.#origin && conn.reconnects === this.#originReconnects) return this.#deleted();
    conn.fence().then(
      () => this.#deleted(),
      (error: unknown) => {
        // A session that ended: without an own-key watch, the track() callback arms the wait on
        // the next one; with one, its loss ends the wait.
        if (conn.alive) this.#end(toBatonError(error, `watching ${this.key}`, this.host.options));
      },
    );
  }

  /**
   * Resolves the wait: with the successor's standing, first now, when the blocker was seen first;
   * else with its standing as the name's followed view shows it, when it shows the successor and
   * no longer the blocker (a state after both its create and the blocker's deletion, see
   * ./children-view.ts); else with nothing, and the successor lists the children.
   */
  #deleted(): void {
    noteDeleted(this.key); // for the process's position feeds and views (./known-deletions.ts)
    const successor = this.successor;
    if (this.#settled || successor === undefined) return this.#end();
    if (!takeHead(this.key)) {
      const view = this.host.viewOf?.(parentOf(this.key));
      const standing = view !== undefined && !view.shows(this.key) ? view.standingOf(successor.key) : undefined;
      if (standing?.head !== undefined && standing.head.key === successor.key) noteHead(successor.key);
      return this.#end(undefined, standing);
    }
    noteHead(successor.key);
    const self = { key: successor.key, role: roleOf(lastSegment(successor.key)), revision: successor.revision };
    this.#end(undefined, { present: true, head: self, predecessor: undefined });
  }

  /** Settles the wait (resolved without `error`), once, and stops everything it armed. */
  #end(error?: unknown, standing?: Standing): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#onAbort) this.signal.removeEventListener('abort', this.#onAbort);
    this.#stop();
    if (error === undefined) this.resolve(standing);
    else this.reject(error);
  }

  #stop(): void {
    this.#untrack?.();
    this.#untrack = undefined;
    this.#stopWatch?.();
    this.#stopWatch = undefined;
  }
}
