/**
 * The dashboard's scan on ZooKeeper: a walk of the tree below a prefix that reads every contender
 * node (an ephemeral node whose name ends in a sequence) with its owner session, and watches for
 * the next change.
 *
 * What it watches, and so what a change costs: one children watch per name node (every node that
 * is not a contender), set by the `getChildren` that lists it, and one data watch on the first
 * contender under each name (its leader: only a leader proclaims a new value). No watch per
 * waiter: a queue of a thousand waiters costs one children watch and one data watch.
 *
 * Watches are one-shot and ZooKeeper cannot take them back, so scans share them: each connection
 * keeps one watcher function for every path (the client registers a given function once per
 * path) and, while a path's watch is armed, what was read with it. A scan subscribes to a path
 * before it looks at it, then reuses the remembered listing while the watch is armed, or reads
 * again with the watch. A change before the look is either known already or reported by a watch
 * event still on its way, which ZooKeeper delivers before the answer of any later read; either
 * way the scan's `changed` fires. So a scan after one change reads only what changed, and a scan
 * of a quiet tree sends no request at all. A contender's creation revision, time and owner never
 * change, so they are read once.
 * @module
 */
import zookeeper from 'node-zookeeper-client';
import type { Event } from 'node-zookeeper-client';
import { abortable } from '../abortable.js';
import type { ScannedKey, ScanResult, Watched } from '../contract.js';
import { lastSegment } from '../key-paths.js';
import { Code, codeOf, type ZkConnection, zxidOf } from './connection.js';
import { orderChildren, roleOf } from './naming.js';

const { NODE_CHILDREN_CHANGED, NODE_DATA_CHANGED, NODE_DELETED } = zookeeper.Event;

/** What a contender node's stat and data say. Only `value` can change (a leader's proclamation). */
interface NodeFacts {
  readonly revision: bigint;
  readonly createdAt: number;
  /** The ephemeral owner's session id, `0x` + 16 hex digits; undefined for a persistent node. */
  readonly session: string | undefined;
  readonly value: string;
  /** Whether a data watch set by the read that gave these facts is still armed. */
  armed: boolean;
}

/** What one connection's scans share: watches, what was read with them, and who waits on them. */
class ScanWatches {
  /** A name node's children, as last listed; `armed` while the listing's watch has not fired. */
  readonly children = new Map<string, { names: readonly string[]; armed: boolean }>();
  readonly nodes = new Map<string, NodeFacts>();
  readonly #subscribers = new Map<string, Set<() => void>>();
  /** The one watcher function for every path, so the client keeps at most one per path. */
  readonly watcher = (event: Event): void => this.#changed(event);
  /** Events seen so far, and the count at each path's last event, kept while reads are in flight. */
  #events = 0;
  readonly #lastEvent = new Map<string, number>();
  #reading = 0;

  /**
   * Runs a read made with the watch, then calls `keep` unless an event on `path` came in while it
   * was in flight. The client handles every packet of a socket read before any promise
   * continuation runs, so an event that followed the answer on the wire is handled before the
   * answer's continuation: without this check a stale answer would be remembered as armed. An
   * event that preceded the answer is treated alike, which costs at most one read more.
   */
  async read<T>(path: string, request: () => Promise<T>, keep: (result: T, armed: boolean) => void): Promise<T> {
    const before = this.#events;
    this.#reading++;
    try {
      const result = await request();
      keep(result, (this.#lastEvent.get(path) ?? 0) <= before);
      return result;
    } finally {
      if (--this.#reading === 0) this.#lastEvent.clear();
    }
  }

  /** Calls `fire` at the next watch event on `path`; returns the unsubscribe. */
  subscribe(path: string, fire: () => void): () => void {
    let set = this.#subscribers.get(path);
    if (!set) this.#subscribers.set(path, (set = new Set()));
    set.add(fire);
    return () => {
      set.delete(fire);
      if (set.size === 0 && this.#subscribers.get(path) === set) this.#subscribers.delete(path);
    };
  }

  /** Remembers a listing made with the watch; forgets the facts of children that are gone. */
  listed(path: string, names: readonly string[], armed: boolean): void {
    const before = this.children.get(path);
    if (before) {
      const now = new Set(names);
      for (const name of before.names) if (!now.has(name)) this.nodes.delete(`${path}/${name}`);
    }
    this.children.set(path, { names, armed });
  }

  #changed(event: Event): void {
    const path = event.getPath();
    const type = event.getType();
    if (this.#reading > 0) this.#lastEvent.set(path, ++this.#events);
    if (type === NODE_CHILDREN_CHANGED) {
      const listing = this.children.get(path);
      if (listing) listing.armed = false;
    } else if (type === NODE_DELETED) {
      for (const name of this.children.get(path)?.names ?? []) this.nodes.delete(`${path}/${name}`);
      this.children.delete(path);
      this.nodes.delete(path);
    } else if (type === NODE_DATA_CHANGED) {
      this.nodes.delete(path);
    }
    // NODE_CREATED: the scanned prefix appeared; nothing was remembered of it.
    for (const fire of [...(this.#subscribers.get(path) ?? [])]) fire();
  }
}

const shared = new WeakMap<ZkConnection, ScanWatches>();

function watchesOf(conn: ZkConnection): ScanWatches {
  let watches = shared.get(conn);
  if (!watches) shared.set(conn, (watches = new ScanWatches()));
  return watches;
}

/**
 * Scans every contender node at any depth below `root` (an absolute path) on `conn`. `chroot` is
 * taken off paths to give each key's parent in the recipes' terms. ZooKeeper does not tell how
 * long another client's session has left (it lives while its client is in contact), so the result
 * has no session times.
 */
export async function scanZooKeeper(conn: ZkConnection, chroot: string, root: string, signal: AbortSignal): Promise<Watched<ScanResult>> {
  const watches = watchesOf(conn);
  const unsubscribes: Array<() => void> = [];
  let settled = false;
  let fired = false;
  let fire = () => {
    fired = true;
  };
  const notify = () => fire();
  const changed = abortable<void>(signal, (resolve) => {
    fire = () => resolve();
    if (fired) resolve();
    // A session that ends takes its watches with it: report that as a (spurious) change.
    const untrack = conn.track(() => resolve());
    return () => {
      settled = true;
      untrack();
      for (const unsubscribe of unsubscribes) unsubscribe();
    };
  });
  const follow = (path: string) => {
    if (!settled) unsubscribes.push(watches.subscribe(path, notify));
  };

  const childrenOf = async (path: string): Promise<readonly string[] | undefined> => {
    follow(path);
    const known = watches.children.get(path);
    if (known?.armed) return known.names;
    try {
      const { children } = await watches.read(path, () => conn.getChildren(path, watches.watcher), ({ children }, armed) => watches.listed(path, children, armed));
      return children;
    } catch (error) {
      if (codeOf(error) === Code.NO_NODE) return undefined; // deleted since its parent was listed: the parent's watch fires
      throw error;
    }
  };

  const factsOf = async (path: string, first: boolean): Promise<NodeFacts | undefined> => {
    if (first) follow(path);
    const known = watches.nodes.get(path);
    if (known && (known.armed || !first)) return known;
    try {
      let facts: NodeFacts | undefined;
      await watches.read(path, () => conn.getData(path, first ? watches.watcher : undefined), ({ data, stat }, armed) => {
        const owner = stat.ephemeralOwner.readBigUInt64BE(0);
        facts = {
          revision: zxidOf(stat.czxid),
          createdAt: Number(stat.ctime.readBigUInt64BE(0)),
          session: owner === 0n ? undefined : `0x${stat.ephemeralOwner.toString('hex')}`,
          value: data ? data.toString('utf8') : '',
          armed: first && armed,
        };
        watches.nodes.set(path, facts);
      });
      return facts;
    } catch (error) {
      if (codeOf(error) === Code.NO_NODE) return undefined;
      throw error;
    }
  };

  try {
    const keys: ScannedKey[] = [];
    if ((await childrenOf(root)) === undefined) {
      // No such prefix yet: watch for its creation (`exists` sets the watch in the same request).
      if ((await conn.exists(root, watches.watcher)) !== null) notify();
      return { current: { keys }, changed };
    }
    let level = [root];
    while (level.length > 0) {
      // One level at a time, its requests sent back to back: the server answers them in order.
      const listings = await Promise.all(level.map(async (path) => ({ path, names: await childrenOf(path) })));
      const next: string[] = [];
      const reads: Array<Promise<void>> = [];
      for (const { path, names } of listings) {
        if (!names) continue;
        const contenders = orderChildren(path, names);
        const sequenced = new Set(contenders.map((entry) => lastSegment(entry.key)));
        for (const name of names) {
          if (sequenced.has(name) || (path === '/' && name === 'zookeeper')) continue;
          next.push(`${path === '/' ? '' : path}/${name}`);
        }
        contenders.forEach((entry, index) => {
          reads.push(
            factsOf(entry.key, index === 0).then((facts) => {
              if (!facts) return;
              // A persistent node with a sequence-like name is no contender: look below it instead.
              if (facts.session === undefined) return void next.push(entry.key);
              const parent = path.slice(chroot.length + 1);
              keys.push({ key: entry.key, parent, role: roleOf(lastSegment(entry.key)), revision: facts.revision, value: facts.value, session: facts.session, createdAt: facts.createdAt });
            }),
          );
        });
      }
      await Promise.all(reads);
      level = next;
    }
    return { current: { keys }, changed };
  } catch (error) {
    fire(); // ends the change signal and its subscriptions: a failed scan leaves nothing behind
    throw error;
  }
}
