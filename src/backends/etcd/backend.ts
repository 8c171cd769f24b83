/**
 * The etcd adapter: the backend contract over one `etcd3` client, one lease per session and one
 * watched {@link PrefixView} per prefix in use.
 *
 * Reads: `list` and `get` read the server (linearizable), except in the event-loop turn in which
 * a prefix's view was just updated by its watch: a waiter re-listing right after the event that
 * woke it is answered from the view, so a handoff costs no round trip after the event.
 * Waits (`waitForBlocker`, own-key watches, `watchKey`, `watchPrefix`) always use the view: a change still in
 * flight when the view is read fires the wait when it arrives, so nothing is missed.
 * @module
 */
import type { Etcd3 } from 'etcd3';
import { ClosedError } from '../../errors.js';
import type { Backend, KeyState, QueueEntry, Session, Watched } from '../contract.js';
import { createClient, explain, withRetry } from './client.js';
import type { EtcdOptions } from './config.js';
import { lastSegment, parentOf } from '../key-paths.js';
import { KeySpace, roleOfName } from './keys.js';
import { EtcdSession, entriesOf } from './session.js';
import { type PrefixView, type Snapshot, type ViewEntry, type ViewHost, ViewRegistry } from './view.js';

/** How long a prefix's watch is kept after its last use. */
const VIEW_LINGER_MS = 30_000;

export class EtcdBackend implements Backend {
  readonly kind = 'etcd' as const;
  readonly options: EtcdOptions;
  readonly client: Etcd3;
  readonly keys: KeySpace;
  readonly views: ViewRegistry;
  #current: EtcdSession | undefined;
  #opening: Promise<EtcdSession> | undefined;
  #closed = false;

  private constructor(options: EtcdOptions) {
    this.options = options;
    this.client = createClient(options);
    this.keys = new KeySpace(options.namespace);
    const host: ViewHost = {
      keys: this.keys,
      client: this.client,
      range: (prefix) => this.range(prefix),
      ownKeyVanished: (key) => this.#ownKeyVanished(key),
    };
    this.views = new ViewRegistry(host, VIEW_LINGER_MS);
  }

  /**
   * Connects: checks that the cluster answers and accepts the credentials, and opens the first
   * session (so that the first acquire is one round trip), before resolving.
   */
  static async connect(options: EtcdOptions): Promise<EtcdBackend> {
    const backend = new EtcdBackend(options);
    const deadline = Date.now() + options.connectTimeoutMs;
    try {
      await backend.client.kv.range({ ...backend.keys.range('baton'), limit: 1, keys_only: true, count_only: true }, { deadline } as never);
    } catch (error) {
      backend.client.close();
      throw explain(error, 'connecting', options);
    }
    try {
      await backend.session();
    } catch (error) {
      await backend.close();
      throw error;
    }
    return backend;
  }

  /** The current session's lease id in decimal, if a session is open (for tests and tools). */
  get leaseId(): string | undefined {
    return this.#current && !this.#current.signal.aborted ? this.#current.leaseId : undefined;
  }

  /** A unary call with retries through transient failures and errors translated to BackendError. */
  call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(what, this.options, () => this.#closed, fn);
  }

  /** Reads every key under `<prefix>/` from the server. */
  async range(prefix: string): Promise<Snapshot> {
    const res = await this.call(`listing ${prefix}/`, () => this.client.kv.range(this.keys.range(prefix)));
    return { revision: BigInt(res.header.revision), kvs: res.kvs };
  }

  #ownKeyVanished(key: string): void {
    const session = this.#current;
    // An own key deleted by someone else: maybe the lease was revoked. Ask now, not at the next keep-alive.
    if (session && !session.signal.aborted && session.owns(key) && !session.isDeleting(key)) session.probe();
  }

  // The recipes bound the wait with their signal; opening a lease carries on for later callers.
  session(_signal?: AbortSignal): Promise<Session> {
    if (this.#closed) return Promise.reject(new ClosedError('the coordinator was closed'));
    const current = this.#current;
    // A check of the lease in flight (one of its keys vanished) decides whether it is still usable.
    const probing = current?.probing;
    if (probing) return probing.then(() => this.session());
    if (current && !current.signal.aborted) return Promise.resolve(current);
    this.#opening ??= EtcdSession.open(this, (key, revision, signal) => this.waitForBlocker(key, revision, signal))
      .then((session) => {
        if (this.#closed) {
          void session.close();
          throw new ClosedError('the coordinator was closed');
        }
        this.#current = session;
        return session;
      })
      .finally(() => {
        this.#opening = undefined;
      });
    return this.#opening;
  }

  /**
   * The view of `prefix` when it may answer a read: it was updated from the server in this turn
   * of the event loop (a waiter re-listing right after the event that woke it). Any other read
   * goes to the server, so reads stay linearizable for everyone else.
   */
  #readableView(prefix: string): PrefixView | undefined {
    const view = this.views.find(prefix);
    return view?.fresh ? view : undefined;
  }

  async list(prefix: string, _signal?: AbortSignal): Promise<QueueEntry[]> {
    this.#checkOpen();
    const view = this.#readableView(prefix);
    if (view) return queueOf(view.entries());
    const snapshot = await this.range(prefix);
    this.views.find(prefix)?.offerSnapshot(snapshot);
    return entriesOf(this.keys, prefix, snapshot.kvs);
  }

  async get(key: string, _signal?: AbortSignal): Promise<KeyState | undefined> {
    this.#checkOpen();
    const view = this.#readableView(parentOf(key));
    if (view) {
      const entry = view.get(key);
      return entry && { value: entry.value, revision: entry.revision };
    }
    const res = await this.call(`reading ${key}`, () => this.client.kv.range({ key: this.keys.full(key) }));
    const kv = res.kvs[0];
    return kv && { value: kv.value.toString(), revision: BigInt(kv.create_revision) };
  }

  async waitForBlocker(key: string, revision: bigint | undefined, signal: AbortSignal): Promise<void> {
    this.#checkOpen();
    const view = this.views.acquire(parentOf(key));
    // A key of the same name created again (Go reuses <name>/<lease hex>) is another key: the one
    // waited for is gone. Without that check a waiter could wait for a key queued behind itself.
    const gone = () => {
      const entry = view.get(key);
      return entry === undefined || (revision !== undefined && entry.revision !== revision);
    };
    try {
      await view.until(gone, signal);
    } finally {
      this.views.release(view);
    }
  }

  /**
   * The view of `prefix` once it is current, holding one reference for the caller's watch (the
   * reference is given back here if the view never gets there).
   */
  async #currentView(prefix: string, signal: AbortSignal): Promise<PrefixView> {
    this.#checkOpen();
    const view = this.views.acquire(prefix);
    try {
      await view.until(() => true, signal);
      return view;
    } catch (error) {
      this.views.release(view);
      throw error;
    }
  }

  async watchKey(key: string, signal: AbortSignal): Promise<Watched<KeyState | undefined>> {
    const view = await this.#currentView(parentOf(key), signal);
    const seen = view.get(key);
    const changed = view.until(() => view.get(key)?.modRevision !== seen?.modRevision, signal);
    void changed.finally(() => this.views.release(view)).catch(() => {});
    return { current: seen && { value: seen.value, revision: seen.revision }, changed };
  }

  async watchPrefix(prefix: string, signal: AbortSignal): Promise<Watched<QueueEntry[]>> {
    const view = await this.#currentView(prefix, signal);
    const entries = view.entries();
    const membership = (list: readonly { key: string }[]) => list.map((entry) => entry.key).join('\n');
    const seen = membership(entries);
    const changed = view.until(() => membership(view.entries()) !== seen, signal);
    void changed.finally(() => this.views.release(view)).catch(() => {});
    return { current: queueOf(entries), changed };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const session = this.#current ?? (await this.#opening?.catch(() => undefined));
    await session?.close();
    this.views.closeAll();
    this.client.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('the coordinator was closed');
  }
}

/** A view's keys as a listing, in creation order. */
function queueOf(entries: readonly ViewEntry[]): QueueEntry[] {
  return entries.map((entry) => ({ key: entry.key, role: roleOfName(lastSegment(entry.key)), revision: entry.revision }));
}
