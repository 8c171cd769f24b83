/**
 * The LISTEN connection: one dedicated connection per coordinator that LISTENs on the schema's
 * channel and hands each key change (`<i|u|d> <revision> <key>`, sent by a trigger on the keys
 * table) to the waits subscribed to that key or to its parent prefix.
 *
 * A notification is only delivered to connections that were listening when the change committed,
 * so after any reconnect the listener LISTENs again and then tells every subscriber `reset`: each
 * wait reads its key again instead of trusting that it missed nothing. Waits read only once
 * the listener is listening ({@link Listener.ready}), so no change can fall between a read and the
 * notification that would follow it.
 *
 * The session's renewals run on this connection too: it is otherwise idle, and an unanswered
 * renewal is how a silently dead LISTEN connection is found and replaced.
 * @module
 */
import type pg from 'pg';
import { ClosedError } from '../../errors.js';
import { abortable } from '../abortable.js';
import { parentOf } from '../key-paths.js';
import type { PostgresOptions } from './config.js';
import { Link, type Statement, destroy } from './link.js';
import { ident } from './schema.js';

/** A change of one key, or `reset`: changes may have been missed, read again. */
export type KeyEvent =
  | { readonly kind: 'insert' | 'update' | 'delete'; readonly key: string; readonly revision: bigint }
  | { readonly kind: 'reset' };

export type KeyEventHandler = (event: KeyEvent) => void;

const RECONNECT_DELAYS_MS = [50, 100, 200, 400, 800, 1000];
const KINDS = { i: 'insert', u: 'update', d: 'delete' } as const;

export class Listener {
  readonly #options: PostgresOptions;
  readonly #channel: string;
  readonly #byKey = new Map<string, Set<KeyEventHandler>>();
  readonly #byPrefix = new Map<string, Set<KeyEventHandler>>();
  /** Scans (the dashboard): few, so a set scanned per event. */
  readonly #trees = new Set<{ readonly start: string; readonly handler: KeyEventHandler }>();
  /** Sees every event (the backend's check for own keys deleted by someone else). */
  readonly #onAny: KeyEventHandler;
  #client: pg.Client | undefined;
  #readyWaiters = new Set<() => void>();
  #reconnectTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #closed = false;
  /** How many times the connection was (re)established and LISTEN sent. */
  connections = 0;

  constructor(options: PostgresOptions, channel: string, onAny: KeyEventHandler) {
    this.#options = options;
    this.#channel = channel;
    this.#onAny = onAny;
  }

  /** Connects and LISTENs; rejects when the first connection fails (the caller reports it). */
  async start(): Promise<void> {
    await this.#connect();
  }

  get listening(): boolean {
    return this.#client !== undefined;
  }

  /** The backend pid of the LISTEN connection, for tests that terminate it. */
  get pid(): number | undefined {
    return (this.#client as unknown as { processID?: number } | undefined)?.processID;
  }

  async #connect(): Promise<void> {
    const client = await Link.open(this.#options, 'baton-listen');
    try {
      client.on('notification', (message: pg.Notification) => this.#notified(message.payload ?? ''));
      await client.query(`LISTEN ${ident(this.#channel)}`);
    } catch (error) {
      destroy(client);
      throw error;
    }
    if (this.#closed) {
      destroy(client);
      return;
    }
    const broken = () => this.#lost(client);
    client.once('error', broken);
    client.once('end', broken);
    this.#client = client;
    this.#failures = 0;
    this.connections++;
    const waiters = [...this.#readyWaiters];
    this.#readyWaiters.clear();
    for (const wake of waiters) wake();
    // Changes that committed while nobody listened were not delivered: everyone reads again.
    if (this.connections > 1) this.#broadcast({ kind: 'reset' });
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    destroy(client);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    const delay = RECONNECT_DELAYS_MS[Math.min(this.#failures++, RECONNECT_DELAYS_MS.length - 1)];
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#connect().catch(() => this.#scheduleReconnect());
    }, delay);
  }

  /** Replaces the connection (it stopped answering). */
  reconnect(): void {
    if (this.#client) this.#lost(this.#client);
  }

  /** Resolves once LISTEN is in force (at once when it is). */
  ready(signal: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError('the coordinator was closed'));
    if (this.#client) return Promise.resolve();
    return abortable<void>(signal, (resolve) => {
      this.#readyWaiters.add(resolve);
      return () => this.#readyWaiters.delete(resolve);
    });
  }

  /**
   * Runs one statement on the LISTEN connection with a deadline; a missed deadline replaces the
   * connection. Rejects when not connected.
   */
  async query(statement: Statement, timeoutMs: number): Promise<pg.QueryResult> {
    const client = this.#client;
    if (!client) throw new Error('the LISTEN connection is being re-established');
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        client.query({ name: statement.name, text: statement.text, values: statement.values as unknown[] | undefined }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            this.#lost(client);
            reject(new Error(`no answer on the LISTEN connection within ${timeoutMs} ms`));
          }, timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Calls `handler` for every change of `key` (and every reset) until the returned function is called. */
  onKey(key: string, handler: KeyEventHandler): () => void {
    return subscribe(this.#byKey, key, handler);
  }

  /** Calls `handler` for every change of a key directly under `prefix` (and every reset). */
  onPrefix(prefix: string, handler: KeyEventHandler): () => void {
    return subscribe(this.#byPrefix, prefix, handler);
  }

  /** Calls `handler` for every change of a key at any depth below `prefix` (`''`: all), and every reset. */
  onTree(prefix: string, handler: KeyEventHandler): () => void {
    const entry = { start: prefix === '' ? '' : `${prefix}/`, handler };
    this.#trees.add(entry);
    return () => this.#trees.delete(entry);
  }

  #notified(payload: string): void {
    const match = /^([iud]) (\d+) (.*)$/s.exec(payload);
    if (!match) {
      // A change too long to name (or from a newer schema): everyone reads again.
      this.#broadcast({ kind: 'reset' });
      return;
    }
    const event: KeyEvent = { kind: KINDS[match[1] as 'i' | 'u' | 'd'], revision: BigInt(match[2]!), key: match[3]! };
    this.#onAny(event);
    for (const handler of [...(this.#byKey.get(event.key) ?? [])]) handler(event);
    for (const handler of [...(this.#byPrefix.get(parentOf(event.key)) ?? [])]) handler(event);
    for (const tree of [...this.#trees]) if (event.key.startsWith(tree.start)) tree.handler(event);
  }

  #broadcast(event: KeyEvent): void {
    this.#onAny(event);
    for (const map of [this.#byKey, this.#byPrefix]) {
      for (const handlers of [...map.values()]) for (const handler of [...handlers]) handler(event);
    }
    for (const tree of [...this.#trees]) tree.handler(event);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      client.end().catch(() => {});
      setTimeout(() => destroy(client), 1000).unref();
    }
  }
}

function subscribe(map: Map<string, Set<KeyEventHandler>>, name: string, handler: KeyEventHandler): () => void {
  let handlers = map.get(name);
  if (!handlers) map.set(name, (handlers = new Set()));
  handlers.add(handler);
  return () => {
    handlers.delete(handler);
    if (handlers.size === 0 && map.get(name) === handlers) map.delete(name);
  };
}
