/**
 * The etcd adapter: the backend contract over our own etcd client (gRPC over `node:http2`, see
 * ./transport), one lease per session and one watched {@link PrefixView} per prefix in use. The
 * client and the views are shared with the process's other coordinators of the same connection
 * identity (./shared-connection.ts); the session, its keys and its signals are this coordinator's.
 *
 * Reads (`list`, `get`) always go to the server and are linearizable: a read never returns a
 * state older than a write that completed before it began. Waits (`waitForBlocker`, own-key
 * watches, `watchKey`, `watchPrefix`) use the view: a change still in flight when the view is read fires the wait when
 * it arrives, so nothing is missed.
 * @module
 */
import { ClosedError } from '../../errors.js';
import type { Backend, KeyState, PlainKeys, PrefixFollower, QueueEntry, ScanResult, Session, Standing, Waiting, Watched } from '../contract.js';
import { standingIn } from '../standing.js';
import { headRange, kvsOf, newestRange, standingFrom } from './standing.js';
import type { EtcdOptions } from './config.js';
import { explain } from './errors.js';
import { lastSegment, parentOf } from '../key-paths.js';
import { KeySpace, roleOfName } from './keys.js';
import { HealthBoard } from '../../observability/health.js';
import { EtcdSession, entriesOf } from './session.js';
import type { EtcdClient } from './transport/client.js';
import type { PrefixView, Snapshot, ViewEntry, ViewStanding } from './view.js';
import { ViewRegistry } from './view-registry.js';
import { type ConnectionUse, useConnection } from './shared-connection.js';
import { EtcdValues } from './values.js';
import { scanEtcd } from './scan.js';
import { followView, queueEntryOf } from './follow.js';

export class EtcdBackend implements Backend {
  readonly kind = 'etcd' as const;
  /** Entering a queue (session, create, the reads after it) never listens to a never-aborting signal: calls check canAbort. */
  readonly entersWithoutListening = true as const;
  readonly options: EtcdOptions;
  /** The connection's client: shared with the process's other coordinators of the same identity. */
  readonly client: EtcdClient;
  readonly keys: KeySpace;
  /** This coordinator's use of the connection's views of its namespace. */
  readonly views: ViewRegistry;
  readonly #connection: ConnectionUse;
  /** Plain keys (versioned values, barriers) under `__values/`. */
  readonly values: PlainKeys = new EtcdValues(this);
  /** Contact, out of contact (with the time left), lost, as the session's keep-alives show them. */
  readonly health = new HealthBoard('etcd');
  #current: EtcdSession | undefined;
  /** Aborted when the coordinator closes: ends its dashboard scans' watches. */
  readonly #scans = new AbortController();
  #opening: Promise<EtcdSession> | undefined;
  #closed = false;

  private constructor(options: EtcdOptions) {
    this.options = options;
    this.#connection = useConnection(options);
    this.client = this.#connection.client;
    this.keys = new KeySpace(options.namespace);
    this.views = new ViewRegistry(this.#connection.views, (key) => this.#ownKeyVanished(key));
  }

  /**
   * Connects: checks that the cluster answers and accepts the credentials, and opens the first
   * session (so that the first acquire is one round trip), before resolving.
   */
  static async connect(options: EtcdOptions, signal?: AbortSignal): Promise<EtcdBackend> {
    signal?.throwIfAborted();
    const backend = new EtcdBackend(options);
    try {
      await backend.call('connecting', () =>
        backend.client.range({ ...backend.keys.range('baton'), limit: 1, keysOnly: true, countOnly: true }, { signal, budgetMs: options.connectTimeoutMs }),
      );
      await backend.session(signal);
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

  /**
   * A call with its failures translated to BackendError (the client retries what can be
   * retried), then handed to `rethrow`, if given, which may throw another error instead.
   */
  call<T>(what: string, fn: () => Promise<T>, rethrow?: (error: unknown) => void): Promise<T> {
    if (this.#closed) return Promise.reject(new ClosedError('the coordinator was closed'));
    let calling: Promise<T>;
    try {
      calling = fn();
    } catch (error) {
      calling = Promise.reject(error);
    }
    // A catch on the call's own promise, not an async wrapper: one step less on every request.
    return calling.catch((error: unknown) => {
      if (this.#closed) throw new ClosedError('the coordinator was closed', { cause: error });
      const explained = explain(error, what, this.options);
      rethrow?.(explained);
      throw explained;
    });
  }

  /** Reads every key under `<prefix>/` from the server. */
  async range(prefix: string, signal?: AbortSignal): Promise<Snapshot> {
    const res = await this.call(`listing ${prefix}/`, () => this.client.range(this.keys.range(prefix), { signal }));
    return { revision: res.header.revision, kvs: res.kvs };
  }

  #ownKeyVanished(key: string): void {
    const session = this.#current;
    // An own key deleted by someone else: maybe the lease was revoked. Ask now, not at the next keep-alive.
    if (session && !session.signal.aborted && session.owns(key) && !session.isDeleting(key)) session.probe();
  }

  session(signal?: AbortSignal): Promise<Session> {
    if (this.#closed) return Promise.reject(new ClosedError('the coordinator was closed'));
    const current = this.#current;
    // A check of the lease in flight (one of its keys vanished) decides whether it is still usable.
    const probing = current?.probing;
    if (probing) return probing.then(() => this.session(signal));
    if (current && !current.signal.aborted) return Promise.resolve(current);
    // The lease grant is bounded by the first caller's signal; later callers share it.
    this.#opening ??= EtcdSession.open(this, signal)
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

  async list(prefix: string, signal?: AbortSignal): Promise<QueueEntry[]> {
    this.#checkOpen();
    const snapshot = await this.range(prefix, signal);
    this.views.find(prefix)?.offerSnapshot(snapshot);
    return entriesOf(this.keys, prefix, snapshot.kvs);
  }

  /**
   * One read-only transaction of three bounded ranges: the key itself, the oldest key and the
   * newest key created before it. A waiter woken in a long queue reads this, not the queue.
   */
  async standing(prefix: string, key: string, revision: bigint, signal?: AbortSignal): Promise<Standing> {
    this.#checkOpen();
    const res = await this.call(`reading where ${key} stands`, () =>
      this.client.txn({ compare: [], success: [{ range: { key: this.keys.full(key) } }, { range: headRange(this.keys, prefix) }, { range: newestRange(this.keys, prefix, 1, revision - 1n) }] }, { signal }),
    );
    const mine = kvsOf(res.responses[0])[0];
    if (!mine || mine.createRevision !== revision) return { present: false, head: undefined, predecessor: undefined };
    // A key of a deeper name came back: the queue has to be listed after all.
    return standingFrom(this.keys, prefix, kvsOf(res.responses[1]), kvsOf(res.responses[2])) ?? standingIn(await this.list(prefix, signal), key);
  }

  async get(key: string, signal?: AbortSignal): Promise<KeyState | undefined> {
    this.#checkOpen();
    const res = await this.call(`reading ${key}`, () => this.client.range({ key: this.keys.full(key) }, { signal }));
    const kv = res.kvs[0];
    return kv && { value: kv.value.toString(), revision: kv.createRevision };
  }

  /**
   * Waits on the prefix's view. With `waiter`, resolves with the waiter's standing (or with
   * `waiter.listing` the queue) as the view shows it at the moment the blocker is gone: the view
   * is then exact at a revision no older than the deletion and every write of this adapter under
   * the prefix (the waiter's own key among them), so a waiter it shows first holds, and the
   * wake-up costs no read.
   */
  async waitForBlocker(key: string, revision: bigint | undefined, signal: AbortSignal, waiter?: Waiting): Promise<Standing | QueueEntry[] | undefined> {
    this.#checkOpen();
    const view = this.views.acquire(parentOf(key));
    let handed: Standing | QueueEntry[] | undefined;
    // A key of the same name created again (Go reuses <name>/<lease hex>) is another key: the one
    // waited for is gone. Without that check a waiter could wait for a key queued behind itself.
    const gone = () => {
      const entry = view.get(key);
      const isGone = entry === undefined || (revision !== undefined && entry.revision !== revision);
      // Checked only on a current view: what it shows now is a state the waiter may act on.
      if (isGone && waiter) handed = waiter.listing ? queueOf(view.entries()) : standingOfView(view.standingOf(waiter.key, waiter.revision));
      return isGone;
    };
    try {
      await view.until(gone, signal, this.views, key);
      return handed;
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
      await view.until(() => true, signal, this.views);
      return view;
    } catch (error) {
      this.views.release(view);
      throw error;
    }
  }

  async watchKey(key: string, signal: AbortSignal): Promise<Watched<KeyState | undefined>> {
    const view = await this.#currentView(parentOf(key), signal);
    const seen = view.get(key);
    const changed = view.until(() => view.get(key)?.modRevision !== seen?.modRevision, signal, this.views, key);
    void changed.finally(() => this.views.release(view)).catch(() => {});
    return { current: seen && { value: seen.value, revision: seen.revision }, changed };
  }

  /** Every contender key below `prefix`, watched as a whole (the dashboard). */
  scan(prefix: string, signal: AbortSignal): Promise<Watched<ScanResult>> {
    this.#checkOpen();
    // Its watch is on the shared stream: it ends when this coordinator closes, not only when the caller aborts.
    return scanEtcd(this, prefix, AbortSignal.any([signal, this.#scans.signal]));
  }

  async watchPrefix(prefix: string, signal: AbortSignal): Promise<Watched<QueueEntry[]>> {
    const view = await this.#currentView(prefix, signal);
    const entries = view.entries();
    const membership = (list: readonly { key: string }[]) => list.map((entry) => entry.key).join('\n');
    const seen = membership(entries);
    const changed = view.until(() => membership(view.entries()) !== seen, signal, this.views);
    void changed.finally(() => this.views.release(view)).catch(() => {});
    return { current: queueOf(entries), changed };
  }

  /**
   * The connection's views of the namespace: the coordinators sharing them share one position
   * view per name, fed by the name's one watched view ({@link followPrefix}).
   */
  get followScope(): object {
    return this.#connection.views;
  }

  /**
   * Follows a prefix's membership on its watched view: no request per change (see ./follow.ts).
   * The feed is the connection's, not this coordinator's: it outlives this coordinator's close.
   */
  followPrefix(prefix: string, signal: AbortSignal, follower: PrefixFollower): void {
    // Not refused once this coordinator is closed: the view it would start may already serve
    // another coordinator's waiters (it ends by itself once the connection's last one has left).
    if (signal.aborted) return;
    followView(this.#connection.views, prefix, signal, follower);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const session = this.#current ?? (await this.#opening?.catch(() => undefined));
    await session?.close();
    this.views.close();
    this.#scans.abort(new ClosedError('the coordinator was closed'));
    this.#connection.leave();
    this.health.closed();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('the coordinator was closed');
  }
}

/** A view's standing in the contract's terms. */
function standingOfView(standing: ViewStanding): Standing {
  if (!standing.present) return { present: false, head: undefined, predecessor: undefined };
  return { present: true, head: standing.head && queueEntryOf(standing.head), predecessor: standing.predecessor && queueEntryOf(standing.predecessor) };
}

/** A view's keys as a listing, in creation order. */
function queueOf(entries: readonly ViewEntry[]): QueueEntry[] {
  return entries.map((entry) => ({ key: entry.key, role: roleOfName(lastSegment(entry.key)), revision: entry.revision }));
}
