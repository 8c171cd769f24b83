/**
 * Change notifications on one dedicated subscriber connection. The scripts publish
 * `c|d|u <name> <revision>` on the queue's channel at every creation, deletion and update; a
 * wait subscribes to the channel first and reads the key second, so no change between the two is
 * missed.
 *
 * Pub/sub forgets what it could not deliver: while the subscriber connection is down, changes are
 * lost. So after every reconnect the channels are subscribed again and every wait re-reads what
 * it waits for ({@link Notifier.onResync}).
 * @module
 */
import type { Redis } from 'ioredis';
import { abortable } from '../abortable.js';
import type { KeySpace } from './keys.js';
import type { Link } from './connection.js';

/** One change, as a script published it. */
export interface Change {
  readonly kind: 'c' | 'd' | 'u';
  readonly name: string;
  readonly revision: bigint;
}

export type ChangeListener = (change: Change) => void;

interface Channel {
  readonly listeners: Set<ChangeListener>;
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
  async listen(prefix: string, listener: ChangeListener, signal: AbortSignal): Promise<() => void> {
    const name = this.#keys.channel(prefix);
    let channel = this.#channels.get(name);
    if (!channel) this.#channels.set(name, (channel = { listeners: new Set(), subscribed: undefined, linger: undefined }));
    clearTimeout(channel.linger);
    channel.linger = undefined;
    channel.listeners.add(listener);
    const remove = () => this.#remove(name, listener);
    try {
      for (;;) {
        await this.#link.whenReady(signal);
        const generation = this.#generation;
        channel.subscribed ??= this.#subscribe(name);
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

  #subscribe(name: string): Promise<void> {
    const done = this.client.subscribe(name).then(() => {});
    done.catch(() => {});
    return done;
  }

  #remove(name: string, listener: ChangeListener): void {
    const channel = this.#channels.get(name);
    if (!channel || !channel.listeners.delete(listener) || channel.listeners.size > 0) return;
    channel.linger = setTimeout(() => {
      if (channel.listeners.size > 0) return;
      this.#channels.delete(name);
      if (this.#link.ready) this.client.unsubscribe(name).catch(() => {});
    }, LINGER_MS);
    channel.linger.unref();
  }

  /** Called with every change delivered on any channel, before its listeners. */
  tap: ((prefix: string, change: Change) => void) | undefined;

  #deliver(channelName: string, message: string): void {
    const prefix = this.#keys.prefixOfChannel(channelName);
    if (prefix === undefined) return;
    const [kind, name, revision] = message.split(' ');
    if ((kind !== 'c' && kind !== 'd' && kind !== 'u') || !name || !revision || !/^\d+$/.test(revision)) return;
    this.inject(prefix, { kind, name, revision: BigInt(revision) });
  }

  /** Delivers a change as if it had been published (a deletion found by a read, not announced). */
  inject(prefix: string, change: Change): void {
    this.tap?.(prefix, change);
    const channel = this.#channels.get(this.#keys.channel(prefix));
    if (!channel) return;
    for (const listener of [...channel.listeners]) listener(change);
  }

  /** After a reconnect: subscribe every channel in use again, then have every wait re-read. */
  #reconnected(): void {
    if (!this.#everReady) {
      this.#everReady = true;
      return;
    }
    const names = [...this.#channels.keys()];
    const subscribed = names.length > 0 ? this.client.subscribe(...names).then(() => {}) : Promise.resolve();
    subscribed.catch(() => {});
    for (const name of names) {
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
