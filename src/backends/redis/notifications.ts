/**
 * Change notifications on one dedicated subscriber connection. The scripts publish
 * `c|d|u <name> <revision>` on the queue's channel at every creation, deletion and update; a
 * wait subscribes to the channel first and reads the key second, so no change between the two is
 * missed.
 *
 * Pub/sub forgets what it could not deliver: while the subscriber connection is down, changes are
 * lost. So after every reconnect the channels are subscribed again and every wait re-reads what
 * it waits for ({@link Notifier.onResync}).
 *
 * A tree subscription (the dashboard's scan) follows every queue at any depth below a prefix,
 * queues created later included, through one pattern subscription (PSUBSCRIBE) on the channels'
 * common start.
 * @module
 */
import type { Redis } from 'ioredis';
import { abortable } from '../abortable.js';
import { globEscape, type KeySpace } from './keys.js';
import type { Link } from './connection.js';

/** One change, as a script published it. */
export interface Change {
  readonly kind: 'c' | 'd' | 'u';
  readonly name: string;
  readonly revision: bigint;
}

export type ChangeListener = (change: Change) => void;
/** A tree subscription's listener: the queue prefix the change happened in, and the change. */
export type TreeListener = (prefix: string, change: Change) => void;

interface Channel {
  /** Set for a pattern subscription: the prefix whose tree it follows. */
  readonly tree?: string;
  readonly listeners: Set<(change: Change, prefix: string) => void>;
  /** Resolves once the server confirmed the subscription on the current connection. */
  subscribed: Promise<void> | undefined;
  linger: NodeJS.Timeout | undefined;
}

/** How long a channel stays subscribed after its last listener left (saves re-subscribing). */
const LINGER_MS = 30_000;

export class Notifier {
  readonly #link: Link;
  readonly #keys: KeySpace;
  readonly #channels = new Map<string, Channel>();
  readonly #resync = new Set<() => void>();
  /** Bumped at every (re)connect: a subscription confirmed on an older connection is stale. */
  #generation = 0;
  #everReady = false;

  constructor(link: Link, keys: KeySpace) {
    this.#link = link;
    this.#keys = keys;
    const client = link.client;
    client.on('message', (channel: string, message: string) => this.#deliver(channel, message));
    client.on('pmessage', (pattern: string, channel: string, message: string) => this.#deliverToTree(pattern, channel, message));
    client.on('ready', () => this.#reconnected());
    client.on('close', () => {
      this.#generation++;
      for (const channel of this.#channels.values()) channel.subscribed = undefined;
    });
  }

  get client(): Redis {
    return this.#link.client;
  }

  /** Registers `listener` for every resync (after a reconnect); returns its removal. */
  onResync(listener: () => void): () => void {
    this.#resync.add(listener);
    return () => this.#resync.delete(listener);
  }

  /** Has every wait re-read what it waits for (after a reconnect of any connection). */
  resync(): void {
    for (const listener of [...this.#resync]) listener();
  }

  /**
   * Adds `listener` to the queue's channel and resolves, with the removal, once the server has
   * confirmed the subscription. Rejects with the signal's reason when it aborts first.
   */
  listen(prefix: string, listener: ChangeListener, signal: AbortSignal): Promise<() => void> {
    return this.#listen(this.#keys.channel(prefix), undefined, listener, signal);
  }

  /**
   * Like {@link listen}, for every queue at any depth below `prefix` (`''`: every queue): the
   * queue `prefix` itself and those under `prefix/`, including queues that do not exist yet.
   */
  listenTree(prefix: string, listener: TreeListener, signal: AbortSignal): Promise<() => void> {
    return this.#listen(`${globEscape(this.#keys.channel(prefix))}*`, prefix, (change, queue) => listener(queue, change), signal);
  }

  async #listen(name: string, tree: string | undefined, listener: (change: Change, prefix: string) => void, signal: AbortSignal): Promise<() => void> {
    let channel = this.#channels.get(name);
    if (!channel) this.#channels.set(name, (channel = { tree, listeners: new Set(), subscribed: undefined, linger: undefined }));
    clearTimeout(channel.linger);
    channel.linger = undefined;
    channel.listeners.add(listener);
    const remove = () => this.#remove(name, listener);
    try {
      for (;;) {
        await this.#link.whenReady(signal);
        const generation = this.#generation;
        channel.subscribed ??= this.#subscribe(channel, name);
        await abortable<void>(signal, (resolve, reject) => {
          (channel.subscribed as Promise<void>).then(resolve, reject);
          return () => {};
        }).catch((error: unknown) => {
          if (signal.aborted) throw error;
          // The connection broke while subscribing: subscribe again once it is back.
          channel.subscribed = undefined;
        });
        if (generation === this.#generation && (channel.subscribed as Promise<void> | undefined)) return remove;
      }
    } catch (error) {
      remove();
      throw error;
    }
  }

  #subscribe(channel: Channel, name: string): Promise<void> {
    const done = (channel.tree === undefined ? this.client.subscribe(name) : this.client.psubscribe(name)).then(() => {});
    done.catch(() => {});
    return done;
  }

  #remove(name: string, listener: (change: Change, prefix: string) => void): void {
    const channel = this.#channels.get(name);
    if (!channel || !channel.listeners.delete(listener) || channel.listeners.size > 0) return;
    channel.linger = setTimeout(() => {
      if (channel.listeners.size > 0) return;
      this.#channels.delete(name);
      if (this.#link.ready) (channel.tree === undefined ? this.client.unsubscribe(name) : this.client.punsubscribe(name)).catch(() => {});
    }, LINGER_MS);
    channel.linger.unref();
  }

  /** Called with every change delivered on any channel, before its listeners. */
  tap: ((prefix: string, change: Change) => void) | undefined;

  #deliver(channelName: string, message: string): void {
    const parsed = this.#parse(channelName, message);
    if (parsed) this.inject(parsed.prefix, parsed.change);
  }

  /** A pattern subscription's message: for that tree's listeners only (the queue's own arrive by `message`). */
  #deliverToTree(pattern: string, channelName: string, message: string): void {
    const parsed = this.#parse(channelName, message);
    const channel = this.#channels.get(pattern);
    if (parsed && channel?.tree !== undefined) this.#tellTree(channel, channel.tree, parsed.prefix, parsed.change);
  }

  #parse(channelName: string, message: string): { prefix: string; change: Change } | undefined {
    const prefix = this.#keys.prefixOfChannel(channelName);
    if (prefix === undefined) return undefined;
    const [kind, name, revision] = message.split(' ');
    if ((kind !== 'c' && kind !== 'd' && kind !== 'u') || !name || !revision || !/^\d+$/.test(revision)) return undefined;
    return { prefix, change: { kind, name, revision: BigInt(revision) } };
  }

  /** Delivers a change as if it had been published (a deletion found by a read, not announced). */
  inject(prefix: string, change: Change): void {
    this.tap?.(prefix, change);
    const channel = this.#channels.get(this.#keys.channel(prefix));
    if (channel) for (const listener of [...channel.listeners]) listener(change, prefix);
    // Tree subscriptions are few (one per open dashboard), so each is checked.
    for (const tree of this.#channels.values()) if (tree.tree !== undefined) this.#tellTree(tree, tree.tree, prefix, change);
  }

  #tellTree(channel: Channel, tree: string, prefix: string, change: Change): void {
    // The pattern also matches queues that merely start with the same characters (`jobs-old` for `jobs`).
    if (tree !== '' && prefix !== tree && !prefix.startsWith(`${tree}/`)) return;
    for (const listener of [...channel.listeners]) listener(change, prefix);
  }

  /** After a reconnect: subscribe every channel in use again, then have every wait re-read. */
  #reconnected(): void {
    if (!this.#everReady) {
      this.#everReady = true;
      return;
    }
    const names = [...this.#channels].filter(([, channel]) => channel.tree === undefined).map(([name]) => name);
    const patterns = [...this.#channels].filter(([, channel]) => channel.tree !== undefined).map(([name]) => name);
    const subscribed = Promise.all([
      names.length > 0 ? this.client.subscribe(...names) : undefined,
      patterns.length > 0 ? this.client.psubscribe(...patterns) : undefined,
    ]).then(() => {});
    subscribed.catch(() => {});
    for (const name of [...names, ...patterns]) {
      const channel = this.#channels.get(name);
      if (channel) channel.subscribed = subscribed;
    }
    subscribed.then(
      () => this.resync(),
      () => {},
    );
  }

  close(): void {
    for (const channel of this.#channels.values()) clearTimeout(channel.linger);
    this.#channels.clear();
    this.#resync.clear();
    this.#link.close();
  }
}
