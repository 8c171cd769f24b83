/**
 * The embedded backend: the whole contract in-process over the shared {@link MemoryStore}.
 * Sessions have a TTL kept alive by a timer, as an etcd lease is; a paused keep-alive
 * ({@link MemoryBackend.suspendKeepAlive}) lets the session expire for real.
 * @module
 */
import type { MemoryConfig } from '../../config.js';
import { ClosedError, ConfigError, SessionLostError } from '../../errors.js';
import { abortable } from '../abortable.js';
import { positiveNumber, rejectUnknownFields, rejectUnknownParams } from '../config-fields.js';
import type { Backend, BackendModule, Enqueued, GuardedOp, KeyState, QueueEntry, Role, ScanResult, Session, Watched } from '../contract.js';
import { type Clock, systemClock } from './clock.js';
import { type MemoryStats, type MemoryStore, sharedStore } from './store.js';

export { ManualClock, type Clock } from './clock.js';
export type { Listener, MemoryStats, MemoryStore } from './store.js';

/** Validated memory options. */
export interface MemoryOptions {
  ttl: number;
  clock: Clock;
  store: MemoryStore;
}

const DEFAULT_TTL_SECONDS = 10;

/**
 * One request to the store: counted, and answered after a turn of the event loop, so other
 * callbacks run in between, as they would during a network round trip.
 */
async function request(store: MemoryStore, operation: string): Promise<void> {
  store.count(operation);
  await new Promise<void>((resolve) => setImmediate(resolve));
}

class MemorySession implements Session {
  readonly id: string;
  readonly #controller = new AbortController();
  readonly signal = this.#controller.signal;
  #cancelExpiry: () => void = () => {};
  #cancelKeepAlive: () => void = () => {};

  constructor(
    private readonly store: MemoryStore,
    private readonly options: MemoryOptions,
  ) {
    this.id = store.newSessionId();
    this.#armExpiry();
    this.#armKeepAlive();
  }

  /** Refreshes the TTL every third of it, as an etcd client refreshes its lease. */
  #armKeepAlive(): void {
    this.#cancelKeepAlive = this.options.clock.setTimer(() => {
      if (this.signal.aborted) return;
      this.#armExpiry();
      this.#armKeepAlive();
    }, (this.options.ttl * 1000) / 3);
  }

  #armExpiry(): void {
    this.#cancelExpiry();
    this.#cancelExpiry = this.options.clock.setTimer(
      () => this.end(new SessionLostError(`memory session ${this.id} expired: no keep-alive for ${this.options.ttl}s`)),
      this.options.ttl * 1000,
    );
  }

  /** Stops the keep-alive, as a paused process would; the session expires after its TTL. */
  suspendKeepAlive(): void {
    this.#cancelKeepAlive();
  }

  /** Ends the session: its keys vanish and its signal aborts with `reason`. */
  end(reason: unknown): void {
    if (this.signal.aborted) return;
    this.#cancelExpiry();
    this.#cancelKeepAlive();
    this.#controller.abort(reason);
    this.store.endSession(this.id);
  }

  async enqueue(prefix: string, role: Role, value: string): Promise<Enqueued> {
    this.#checkAlive();
    await request(this.store, 'enqueue');
    this.#checkAlive();
    const { key, revision } = this.store.createEphemeral(prefix, this.id, role, value);
    return { key, revision, entries: this.store.list(prefix) };
  }

  async deleteIf(key: string, revision: bigint): Promise<boolean> {
    await request(this.store, 'deleteIf');
    return this.store.revisionOf(key) === revision && this.store.delete(key);
  }

  async updateIf(key: string, revision: bigint, value: string): Promise<boolean> {
    await request(this.store, 'updateIf');
    if (this.store.revisionOf(key) !== revision) return false;
    this.store.update(key, value);
    return true;
  }

  async guardedWrite(key: string, revision: bigint, ops: readonly GuardedOp[]): Promise<boolean> {
    await request(this.store, 'guardedWrite');
    if (this.store.revisionOf(key) !== revision) return false;
    for (const op of ops) {
      if ('put' in op) this.store.put(op.put, op.value);
      else this.store.delete(op.delete);
    }
    return true;
  }

  #checkAlive(): void {
    if (this.signal.aborted) throw this.signal.reason;
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
    if (this.#count++ === 0) this.#handle = setInterval(() => {}, 1 << 30);
    const done = () => {
      if (--this.#count === 0) clearInterval(this.#handle);
    };
    wait.then(done, done);
    return wait;
  }
}

const pendingWaits = new PendingWaits();

/** A coordinator's connection to the process-wide store. */
export class MemoryBackend implements Backend {
  readonly kind = 'memory' as const;
  #current: MemorySession | undefined;
  #closed = false;

  constructor(readonly options: MemoryOptions) {}

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
    this.#current?.end(new SessionLostError(`memory session ${this.#current.id} was expired`));
  }

  /** Deletes any key behind the recipes' back, as an operator would. */
  deleteKey(key: string): boolean {
    return this.options.store.delete(key);
  }

  async session(): Promise<Session> {
    this.#checkOpen();
    if (!this.#current || this.#current.signal.aborted) this.#current = new MemorySession(this.options.store, this.options);
    return this.#current;
  }

  async list(prefix: string): Promise<QueueEntry[]> {
    await this.#request('list');
    return this.options.store.list(prefix);
  }

  async get(key: string): Promise<KeyState | undefined> {
    await this.#request('get');
    return this.options.store.get(key);
  }

  async waitForDelete(key: string, signal: AbortSignal, revision?: bigint): Promise<void> {
    await this.#request('waitForDelete');
    const store = this.options.store;
    const gone = () => {
      const current = store.revisionOf(key);
      return current === undefined || (revision !== undefined && current !== revision);
    };
    return pendingWaits.track(abortable<void>(signal, (resolve) => {
      if (gone()) {
        resolve();
        return () => {};
      }
      // A value update also fires key listeners: re-arm until the key is really gone.
      let unsubscribe = () => {};
      const arm = () => {
        unsubscribe = store.onKeyChange(key, () => (gone() ? resolve() : arm()));
      };
      arm();
      return () => unsubscribe();
    }));
  }

  async watchKey(key: string, signal: AbortSignal): Promise<Watched<KeyState | undefined>> {
    await this.#request('watchKey');
    const store = this.options.store;
    const changed = pendingWaits.track(abortable<void>(signal, (resolve) => store.onKeyChange(key, resolve)));
    return { current: store.get(key), changed };
  }

  async watchPrefix(prefix: string, signal: AbortSignal): Promise<Watched<QueueEntry[]>> {
    await this.#request('watchPrefix');
    const store = this.options.store;
    const changed = pendingWaits.track(abortable<void>(signal, (resolve) => store.onPrefixChange(prefix, resolve)));
    return { current: store.list(prefix), changed };
  }

  async scan(prefix: string, signal: AbortSignal): Promise<Watched<ScanResult>> {
    await this.#request('scan');
    const store = this.options.store;
    const changed = pendingWaits.track(abortable<void>(signal, (resolve) => store.onTreeChange(prefix, resolve)));
    return { current: { keys: store.scan(prefix) }, changed };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#current?.end(new ClosedError('the coordinator was closed'));
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('the coordinator was closed');
  }

  async #request(operation: string): Promise<void> {
    this.#checkOpen();
    await request(this.options.store, operation);
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
  async connect(options) {
    return new MemoryBackend(options);
  },
};

function ttlOf(value: unknown): number {
  return positiveNumber(value, 'ttl', 0.01, 86_400, DEFAULT_TTL_SECONDS);
}
