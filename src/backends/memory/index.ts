/**
 * The embedded backend: the whole contract in-process over the shared {@link MemoryStore}.
 * Sessions have a TTL kept alive by a timer, as an etcd lease is; a paused keep-alive
 * ({@link MemoryBackend.suspendKeepAlive}) lets the session expire for real. A coordinator's link
 * to the store can be broken on purpose ({@link MemoryBackend.faults}) to test what happens when
 * a backend hangs, refuses requests or loses their answers.
 * @module
 */
import { BackendError, ClosedError, ConfigError, OutcomeUnknownError, SessionLostError } from '../../errors.js';
import { abortable, canAbort, raceSignal } from '../abortable.js';
import { positiveNumber, rejectUnknownFields, rejectUnknownParams } from '../config-fields.js';
import type { Backend, BackendModule, Enqueued, EnqueueRead, GuardedOp, KeyState, OwnKey, PlainKeys, PrefixFollower, QueueEntry, Role, ScanResult, Session, Standing, StoredValue, Waiting, Watched } from '../contract.js';
import { GuaranteedRemovals } from '../guaranteed-delete.js';
import { keysOfStanding } from '../standing.js';
import { OwnKeyWatches } from '../own-keys.js';
import { type Clock, systemClock } from './clock.js';
import { LostAnswerError, MemoryFaults } from './faults.js';
import { relayThroughLink } from './follow.js';
import { sessionLost, sessionOpened, sessionRenewed } from '../../observability/events.js';
import { HealthBoard } from '../../observability/health.js';
import { type MemoryStats, type MemoryStore, sharedStore } from './store.js';

export { ManualClock, type Clock } from './clock.js';
export { MemoryFaults, LostAnswerError, type FaultOutcome, type FaultPlan } from './faults.js';
export type { Listener, MemoryStats, MemoryStore } from './store.js';

/** The embedded in-process backend (the default). */
export interface MemoryConfig {
  backend: 'memory';
  /** Session TTL in seconds (default 10). */
  ttl?: number;
  /** A clock for tests, such as `ManualClock` from `baton-locks/testing`. */
  clock?: Clock;
}

/** Validated memory options. */
export interface MemoryOptions {
  ttl: number;
  clock: Clock;
  store: MemoryStore;
}

const DEFAULT_TTL_SECONDS = 10;

/**
 * A coordinator's requests to the store: each counted, answered after a turn of the event loop
 * (so other callbacks run in between, as during a network round trip), and subject to the
 * link's injected faults.
 */
class Link {
  constructor(
    readonly store: MemoryStore,
    readonly faults: MemoryFaults,
    private readonly isClosed: () => boolean,
  ) {}

  /**
   * Sends `operation`: `apply` runs against the store when the request gets through, even if the
   * caller stopped waiting (a request sent to a frozen server is applied when it wakes up).
   */
  request<T>(operation: string, signal: AbortSignal | undefined, apply: () => T): Promise<T> {
    if (this.isClosed()) return Promise.reject(new ClosedError('the coordinator was closed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.store.count(operation);
    const fault = this.faults.take(operation);
    const answer = this.faults.transit().then(() => {
      if (fault === 'refused') throw new BackendError(`memory: ${operation} was refused (injected fault)`);
      const result = apply();
      if (fault === 'lost') throw new LostAnswerError(`memory: the answer to ${operation} was lost (injected fault)`);
      return result;
    });
    return raceSignal(answer, signal);
  }
}

class MemorySession implements Session {
  readonly id: string;
  readonly #controller = new AbortController();
  readonly signal = this.#controller.signal;
  readonly #link: Link;
  readonly #options: MemoryOptions;
  readonly #own: OwnKeyWatches;
  readonly #removals: GuaranteedRemovals;
  readonly #health: HealthBoard;
  #cancelExpiry: () => void = () => {};
  #cancelKeepAlive: () => void = () => {};
  #expiresAt = 0;

  constructor(link: Link, options: MemoryOptions, health: HealthBoard) {
    this.#link = link;
    this.#options = options;
    this.#health = health;
    this.id = link.store.newSessionId();
    this.#own = new OwnKeyWatches(this.signal);
    this.#removals = new GuaranteedRemovals({
      signal: this.signal,
      ttlMs: options.ttl * 1000,
      attemptRemove: (key, revision, signal) => this.#attemptRemove(key, revision, signal),
      // No deadline of its own per attempt: the removals' one timer gives up on an attempt held
      // by a frozen link, whose request is still applied at thaw.
      attemptRemoveWithin: (key, revision) => this.#attemptRemove(key, revision, undefined),
      end: () => this.end(),
    });
    this.#armExpiry();
    this.#armKeepAlive();
  }

  /** Removals that had to end the session (for tests). */
  get removalsThatEndedTheSession(): number {
    return this.#removals.endedSessions;
  }

  /** Refreshes the TTL every third of it, as an etcd client refreshes its lease; not through a frozen link. */
  #armKeepAlive(): void {
    this.#cancelKeepAlive = this.#options.clock.setTimer(() => {
      if (this.signal.aborted) return;
      if (!this.#link.faults.frozen) {
        this.#armExpiry();
        sessionRenewed('memory', this.id, 0);
        this.#health.contact(this.id);
      } else {
        // A keep-alive that cannot get through: out of contact until the expiry.
        this.#health.outOfContact(Date.now() + this.#expiresAt - this.#options.clock.now());
      }
      this.#armKeepAlive();
    }, (this.#options.ttl * 1000) / 3);
  }

  #armExpiry(): void {
    this.#cancelExpiry();
    this.#expiresAt = this.#options.clock.now() + this.#options.ttl * 1000;
    this.#cancelExpiry = this.#options.clock.setTimer(
      () => this.lose(new SessionLostError(`memory session ${this.id} expired: no keep-alive for ${this.#options.ttl}s`)),
      this.#options.ttl * 1000,
    );
  }

  /** Stops the keep-alive, as a paused process would; the session expires after its TTL. */
  suspendKeepAlive(): void {
    this.#cancelKeepAlive();
  }

  /** Ends the session at once: its keys vanish and its signal aborts with `reason`. */
  lose(reason: unknown): void {
    if (this.signal.aborted) return;
    this.#cancelExpiry();
    this.#cancelKeepAlive();
    this.#controller.abort(reason);
    this.#link.store.endSession(this.id);
    if (!(reason instanceof ClosedError)) {
      sessionLost('memory', this.id, reason);
      this.#health.lost(reason);
    }
  }

  async end(): Promise<void> {
    this.lose(new SessionLostError(`memory session ${this.id} was ended`));
  }

  async enqueue(prefix: string, role: Role, value: string, signal: AbortSignal, read: EnqueueRead = 'listing'): Promise<Enqueued> {
    this.#checkAlive();
    const store = this.#link.store;
    // The key's name is fixed before sending, so a create whose answer was lost can be found.
    const key = store.newKeyName(prefix, this.id, role);
    const created = this.#link.request('enqueue', undefined, () => {
      this.#checkAlive();
      const revision = store.createEphemeral(key, this.id, role, value);
      const own = this.#watchOwn(key, revision);
      if (read === 'listing') return { revision, entries: store.list(prefix), standing: undefined, own };
      // The standing only: O(1) whatever the queue's length (no listing per enqueue).
      const standing = store.standing(prefix, key, revision);
      return { revision, entries: keysOfStanding(standing, key, role, revision), standing, own };
    });
    try {
      const { revision, entries, standing, own } = await raceSignal(created, signal);
      return standing ? { key, revision, entries, standing, own } : { key, revision, entries, own };
    } catch (error) {
      // The create may have happened (lost answer) or may still happen (frozen link): its key must not stay.
      void created.then(
        ({ revision, own }) => {
          own.dispose();
          return this.#removals.remove(key, revision);
        },
        (failure) => (failure instanceof LostAnswerError ? this.#removals.remove(key, undefined) : undefined),
      );
      throw error;
    }
  }

  /** Arms the own-key watch; it fires synchronously with the deletion, before any later wake-up. */
  #watchOwn(key: string, revision: bigint) {
    return this.#own.arm(key, (onDeleted) => watchDeletion(this.#link, key, revision, onDeleted));
  }

  remove(key: string, revision: bigint, signal?: AbortSignal): Promise<void> {
    return this.#removals.remove(key, revision, signal);
  }

  /** One removal attempt; `revision` undefined: whatever creation of `key` (names are never reused). */
  #attemptRemove(key: string, revision: bigint | undefined, signal: AbortSignal | undefined): Promise<void> {
    const store = this.#link.store;
    return this.#link.request('remove', signal, () => {
      const current = store.revisionOf(key);
      if (current !== undefined && (revision === undefined || current === revision)) store.delete(key);
    });
  }

  async updateIf(key: string, revision: bigint, value: string, signal?: AbortSignal): Promise<boolean> {
    const store = this.#link.store;
    return atMostOnce(`updating ${key}`, this.#link.request('updateIf', signal, () => {
      if (store.revisionOf(key) !== revision) return false;
      store.update(key, value);
      return true;
    }));
  }

  async guardedWrite(key: string, revision: bigint, ops: readonly GuardedOp[], signal?: AbortSignal): Promise<boolean> {
    const store = this.#link.store;
    return atMostOnce(`guarded write under ${key}`, this.#link.request('guardedWrite', signal, () => {
      if (store.revisionOf(key) !== revision) return false;
      for (const op of ops) {
        if ('put' in op) store.put(op.put, op.value);
        else store.delete(op.delete);
      }
      return true;
    }));
  }

  #checkAlive(): void {
    if (this.signal.aborted) throw this.signal.reason;
  }
}

/** Plain keys in the shared store, under their names as given. */
class MemoryValues implements PlainKeys {
  /** No other client's barrier to share: a barrier keeps a key of its own. */
  readonly barrierIsTheName = false;

  constructor(
    readonly link: Link,
    readonly faults: MemoryFaults,
  ) {}

  read(name: string, signal?: AbortSignal): Promise<StoredValue | undefined> {
    return this.link.request('readValue', signal, () => this.link.store.readValue(name));
  }

  watch(name: string, signal: AbortSignal): Promise<Watched<StoredValue | undefined>> {
    const store = this.link.store;
    return this.link.request('watchValue', signal, () => {
      const changed = pendingWaits.track(abortable<void>(signal, (resolve) => store.onKeyChange(name, () => this.faults.notify(resolve))));
      return { current: store.readValue(name), changed };
    });
  }

  write(name: string, expected: StoredValue | undefined, value: string, signal?: AbortSignal): Promise<StoredValue | undefined> {
    const store = this.link.store;
    return atMostOnce(`writing ${name}`, this.link.request('writeValue', signal, () => {
      if (store.readValue(name)?.revision !== expected?.revision) return undefined;
      store.put(name, value);
      return store.readValue(name);
    }));
  }

  delete(name: string, expected?: StoredValue, signal?: AbortSignal): Promise<boolean> {
    const store = this.link.store;
    return atMostOnce(`deleting ${name}`, this.link.request('deleteValue', signal, () => {
      const current = store.readValue(name);
      if (!current || (expected && current.revision !== expected.revision)) return false;
      return store.delete(name);
    }));
  }
}

/**
 * The store's side of an own-key watch: calls `onDeleted` once the key is deleted (through the
 * link, which holds it back while frozen), at once if it is gone already; returns the stop. The
 * watch is kept in the key itself (MemoryStore.watchDeletion): every waiter has one, and this way
 * it costs two closures.
 */
function watchDeletion(link: Link, key: string, revision: bigint, onDeleted: () => void): () => void {
  const { store, faults } = link;
  const deleted = () => faults.notify(onDeleted);
  if (!store.watchDeletion(key, revision, deleted)) {
    onDeleted();
    return noop;
  }
  return () => store.unwatchDeletion(key, deleted);
}

/** A write's answer; a lost one becomes an OutcomeUnknownError (the write is never sent again). */
async function atMostOnce<T>(what: string, answer: Promise<T>): Promise<T> {
  try {
    return await answer;
  } catch (error) {
    if (error instanceof LostAnswerError) throw new OutcomeUnknownError(`${what}: the answer was lost, so whether it was applied is unknown`, { cause: error });
    throw error;
  }
}

/**
 * Keeps the process alive while someone waits on the store, as an open socket to a server would:
 * without it, a process whose only pending work is waiting for a lock would simply exit.
 */
class PendingWaits {
  #count = 0;
  #handle: NodeJS.Timeout | undefined;

  track<T>(wait: Promise<T>): Promise<T> {
    this.begin();
    const done = () => this.end();
    wait.then(done, done);
    return wait;
  }

  /** One more wait (call {@link end} exactly once when it is over). */
  begin(): void {
    if (this.#count++ === 0) this.#handle = setInterval(() => {}, 1 << 30);
  }

  end(): void {
    if (--this.#count === 0) clearInterval(this.#handle);
  }
}

const pendingWaits = new PendingWaits();
const noop = () => {};

/**
 * One wait for the deletion of a key (MemoryBackend.waitForBlocker): settles once the key is gone,
 * or with the reason when `signal` aborts or the waiter's own key is lost. Its state is in fields
 * and it makes three closures, where a closure per step and a context each made a waiter's wait
 * cost twice as much heap: thousands of waiters each keep one.
 */
class BlockerWait {
  #settled = false;
  /** Whether it listens to the key (and counts as a pending wait). */
  #listening = false;
  #onAbort: (() => void) | undefined;
  /** Listens to the key again until it is really gone: a value update also fires key listeners. */
  readonly #check = (): void => {
    if (this.#settled) return;
    if (this.#gone()) this.#settle(undefined);
    else this.store.listenToKey(this.key, this.#changed);
  };
  readonly #changed = (): void => this.faults.notify(this.#check);
  readonly #fail = (error: unknown): void => this.#settle(error);

  constructor(
    private readonly store: MemoryStore,
    private readonly faults: MemoryFaults,
    private readonly key: string,
    private readonly revision: bigint | undefined,
    private readonly signal: AbortSignal,
    private readonly resolve: () => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  start(link: Link, own: OwnKey | undefined): void {
    // The watch is set with the request's answer, as the existence check is made.
    link.request('waitForBlocker', this.signal, noop).then(() => {
      if (this.#settled) return;
      if (this.#gone()) return this.#settle(undefined);
      pendingWaits.begin();
      this.#listening = true;
      this.store.listenToKey(this.key, this.#changed);
    }, this.#fail);
    const signal = this.signal;
    if (signal.aborted) this.#settle(signal.reason);
    else if (canAbort(signal)) {
      this.#onAbort = () => this.#settle(signal.reason);
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    // Replaced by the next round's wait, or by the hold's own listener once granted.
    own?.onLoss(this.#fail);
  }

  #gone(): boolean {
    const current = this.store.revisionOf(this.key);
    return current === undefined || (this.revision !== undefined && current !== this.revision);
  }

  /** Ends the wait: resolves when `error` is undefined (the key is gone), else rejects with it. */
  #settle(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#onAbort) this.signal.removeEventListener('abort', this.#onAbort);
    if (this.#listening) {
      this.store.offKeyChange(this.key, this.#changed);
      pendingWaits.end();
    }
    if (error === undefined) this.resolve();
    else this.reject(error);
  }
}

/** A coordinator's connection to the process-wide store. */
export class MemoryBackend implements Backend {
  readonly kind = 'memory' as const;
  /** waitForBlocker ends when the waiter's own key is lost (see below). */
  readonly endsWaitWithOwnKey = true as const;
  /** session, enqueue and the reads made while entering listen to no never-aborting signal (raceSignal skips it). */
  readonly entersWithoutListening = true as const;
  /** followPrefix says when its link holds changes back (./follow.ts). */
  readonly followTellsBehind = true as const;

  /**
   * The process's store: every memory coordinator's waiters on a queue share one position view
   * (one node per key, not one per key per coordinator).
   */
  get followScope(): object {
    return this.options.store;
  }
  /** This coordinator's link to the store, for tests to break: freeze, refuse, lose answers. */
  readonly faults = new MemoryFaults();
  readonly health = new HealthBoard('memory');
  readonly #link: Link;
  #current: MemorySession | undefined;
  #closed = false;

  readonly values: PlainKeys;

  constructor(readonly options: MemoryOptions) {
    this.#link = new Link(options.store, this.faults, () => this.#closed);
    this.values = new MemoryValues(this.#link, this.faults);
  }

  /** Operation and wake-up counters of the shared store. */
  stats(): MemoryStats {
    return this.options.store.stats();
  }

  /** Stops the current session's keep-alive, so it expires after its TTL as a paused client's would. */
  suspendKeepAlive(): void {
    this.#current?.suspendKeepAlive();
  }

  /** Ends the current session at once, as a server expiring it would. */
  expireSession(): void {
    this.#current?.lose(new SessionLostError(`memory session ${this.#current.id} was expired`));
  }

  /** The current session, if one is open (for tests). */
  get currentSession(): (Session & { readonly removalsThatEndedTheSession: number }) | undefined {
    return this.#current;
  }

  /** Deletes any key behind the recipes' back, as an operator would. */
  deleteKey(key: string): boolean {
    return this.options.store.delete(key);
  }

  async session(signal: AbortSignal): Promise<Session> {
    this.#checkOpen();
    if (signal?.aborted) throw signal.reason;
    if (!this.#current || this.#current.signal.aborted) {
      this.#current = new MemorySession(this.#link, this.options, this.health);
      sessionOpened('memory', this.#current.id);
      this.health.contact(this.#current.id);
    }
    return this.#current;
  }

  list(prefix: string, signal?: AbortSignal): Promise<QueueEntry[]> {
    return this.#link.request('list', signal, () => this.options.store.list(prefix));
  }

  standing(prefix: string, key: string, revision: bigint, signal?: AbortSignal): Promise<Standing> {
    return this.#link.request('standing', signal, () => this.options.store.standing(prefix, key, revision));
  }

  get(key: string, signal?: AbortSignal): Promise<KeyState | undefined> {
    return this.#link.request('get', signal, () => this.options.store.get(key));
  }

  // Not async, and one promise for the whole wait, with no helper promises chained to it: every
  // waiter keeps this while it waits (a promise, its reaction and a closure cost ~300 bytes each).
  // Given the waiter's own-key watch, the wait also ends when the own key is lost (its one loss
  // listener, free until then), so a waiter with no limits needs no signal of its own.
  waitForBlocker(key: string, revision: bigint | undefined, signal: AbortSignal, waiter?: Waiting): Promise<void> {
    return new Promise<void>((resolve, reject) => new BlockerWait(this.options.store, this.faults, key, revision, signal, resolve, reject).start(this.#link, waiter?.own));
  }

  async watchKey(key: string, signal: AbortSignal): Promise<Watched<KeyState | undefined>> {
    const store = this.options.store;
    return this.#link.request('watchKey', signal, () => {
      const changed = pendingWaits.track(abortable<void>(signal, (resolve) => store.onKeyChange(key, () => this.faults.notify(resolve))));
      return { current: store.get(key), changed };
    });
  }

  async watchPrefix(prefix: string, signal: AbortSignal): Promise<Watched<QueueEntry[]>> {
    const store = this.options.store;
    return this.#link.request('watchPrefix', signal, () => {
      const changed = pendingWaits.track(abortable<void>(signal, (resolve) => store.onPrefixChange(prefix, () => this.faults.notify(resolve))));
      return { current: store.list(prefix), changed };
    });
  }

  followPrefix(prefix: string, signal: AbortSignal, follower: PrefixFollower): void {
    const store = this.options.store;
    // One request: the listing and the subscription are made together, so no change slips between.
    this.#link
      .request('followPrefix', signal, () => {
        follower.reset(store.list(prefix));
        const stop = store.follow(prefix, relayThroughLink(this.faults, follower));
        signal.addEventListener('abort', stop, { once: true });
        if (signal.aborted) stop();
      })
      .catch(() => {
        // Positions are reports only: a failed follow leaves them unreported, it fails no acquire.
      });
  }

  async scan(prefix: string, signal: AbortSignal): Promise<Watched<ScanResult>> {
    const store = this.options.store;
    return this.#link.request('scan', signal, () => {
      const changed = pendingWaits.track(abortable<void>(signal, (resolve) => store.onTreeChange(prefix, () => this.faults.notify(resolve))));
      return { current: { keys: store.scan(prefix) }, changed };
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.faults.reset();
    this.#current?.lose(new ClosedError('the coordinator was closed'));
    this.health.closed();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('the coordinator was closed');
  }
}

/** The `memory://` backend module. */
export const memoryBackend: BackendModule<MemoryOptions> = {
  kind: 'memory',
  fromUrl(url) {
    if (url.hosts !== '' || url.path !== '' || url.credentials) {
      throw new ConfigError(`invalid memory URL "${url.raw}": the memory backend has no address; use memory:// or memory://?ttl=SECONDS`);
    }
    rejectUnknownParams(url, ['ttl']);
    return { ttl: ttlOf(url.params.get('ttl') ?? undefined), clock: systemClock, store: sharedStore };
  },
  fromObject(config) {
    rejectUnknownFields(config, ['backend', 'ttl', 'clock'], 'memory config');
    const clock = config.clock as MemoryConfig['clock'];
    if (clock !== undefined && (typeof clock?.now !== 'function' || typeof clock?.setTimer !== 'function')) {
      throw new ConfigError('invalid clock in memory config: expected an object with now() and setTimer(fn, ms), such as new ManualClock()');
    }
    return { ttl: ttlOf(config.ttl), clock: clock ?? systemClock, store: sharedStore };
  },
  async connect(options, signal) {
    if (signal?.aborted) throw signal.reason;
    return new MemoryBackend(options);
  },
};

function ttlOf(value: unknown): number {
  return positiveNumber(value, 'ttl', 0.01, 86_400, DEFAULT_TTL_SECONDS);
}

