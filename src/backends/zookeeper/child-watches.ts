/**
 * Child and data watches kept where node-zookeeper-client keeps its own, without an EventEmitter
 * each.
 *
 * The client keeps a one-shot watch per path and kind in its WatcherManager: an EventEmitter made
 * for the path on the first watch, a `once` listener per watcher, and the emitter dropped when the
 * path's notification comes. An uncontended acquire sets a child watch on its name's node with
 * every enqueue (the listing behind its create), and that notification comes with every release;
 * a contender that waits sets a data watch on its own node and one on the node ahead of it, each
 * notified once that node is deleted: a new emitter, its listener wrapper and its removal per
 * watch, a measurable part of the client's time per hold (issue 11). {@link setChildWatch} and
 * {@link setDataWatch} put a small list in the emitter's place, with what the client
 * asks of one: `listeners('notification')` (the paths it sets again on the server after a
 * reconnect, and whether it has any watch at all), and `emit('notification', event)` once the
 * client has taken it out for a notification; and `once('notification', watcher)`, when the client
 * adds a watch of its own on the same path (the adapter still sets some data watches through the
 * client's `getData`). So the client notifies, drops and re-sets these watches exactly as it does
 * its own.
 * @module
 */
import type { Event } from 'node-zookeeper-client';

type Watcher = (event: Event) => void;

/** The part of the client's connection manager this module touches. */
export interface WatchedManager {
  watcherManager: { childWatchers: Record<string, unknown>; dataWatchers: Record<string, unknown> };
  registerChildWatcher(path: string, watcher: Watcher): void;
  registerDataWatcher(path: string, watcher: Watcher): void;
}

/** One path's child watchers until its next notification, as the client's emitter would hold them. */
class OneShotWatchers {
  #watchers: Watcher[] = [];

  add(watcher: Watcher): void {
    // The client sets one watcher once per path, however often it is asked to.
    if (!this.#watchers.includes(watcher)) this.#watchers.push(watcher);
  }

  /**
   * What the client calls on an emitter to add a watcher of its own (a watch set through its own
   * `getData`, by an observer, on a path a waiter watches here too).
   */
  once(_name: string, watcher: Watcher): this {
    this.add(watcher);
    return this;
  }

  /** What the client reads of an emitter: the watchers still waiting. */
  listeners(): readonly Watcher[] {
    return this.#watchers;
  }

  /** Called by the client once, after it took this path's watchers out for a notification. */
  emit(_name: string, event: Event): boolean {
    const watchers = this.#watchers;
    this.#watchers = [];
    for (const watcher of watchers) watcher(event);
    return watchers.length > 0;
  }
}

/**
 * Adds `watcher` as a child watch on `path` after a successful listing that set the watch on the
 * server. A path whose watchers the client holds in its own emitter (a watch set through the
 * client's `getChildren`) is left to the client.
 */
export function setChildWatch(manager: WatchedManager, path: string, watcher: Watcher): void {
  setWatch(manager.watcherManager.childWatchers, path, watcher, () => manager.registerChildWatcher(path, watcher));
}

/**
 * Adds `watcher` as a data watch on `path` after a successful getData that set the watch on the
 * server (a getData of a missing node sets none, and the client then keeps none). A path whose
 * watchers the client holds in its own emitter is left to the client.
 */
export function setDataWatch(manager: WatchedManager, path: string, watcher: Watcher): void {
  setWatch(manager.watcherManager.dataWatchers, path, watcher, () => manager.registerDataWatcher(path, watcher));
}

function setWatch(watchers: Record<string, unknown>, path: string, watcher: Watcher, byClient: () => void): void {
  const current = watchers[path];
  if (current === undefined) {
    const made = new OneShotWatchers();
    made.add(watcher);
    watchers[path] = made;
  } else if (current instanceof OneShotWatchers) {
    current.add(watcher);
  } else {
    byClient();
  }
}
