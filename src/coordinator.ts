/**
 * The entry point: {@link connect} resolves a configuration to a backend and returns a
 * {@link Coordinator}, the factory of every recipe over that one connection and session.
 * @module
 */
import { raceSignal } from './backends/abortable.js';
import type { Backend, BackendKind } from './backends/contract.js';
import { type Config, openBackend } from './config.js';
import { InvalidArgumentError } from './errors.js';
import { openWaitScope, TRY_OPTIONS } from './recipes/wait-scope.js';
import { checkName, describe } from './validate.js';
import { type Health, type HealthEvent, HealthBoard } from './observability/health.js';
import { Barrier, DoubleBarrier, type DoubleBarrierOptions } from './recipes/barrier.js';
import { Election } from './recipes/election.js';
import { type LockPart, MultiLock } from './recipes/multi-lock.js';
import { Mutex } from './recipes/mutex.js';
import { ReadWriteLock } from './recipes/rwlock.js';
import { Semaphore, type SemaphoreOptions } from './recipes/semaphore.js';
import { VersionedValue } from './recipes/value.js';

const backends = new WeakMap<Coordinator, Backend>();

/**
 * A connection to one backend, with one session at a time that owns every key this coordinator
 * creates. Recipes made from it share that session. A lost session aborts the holds it carried;
 * later acquisitions open a new one.
 */
export class Coordinator implements AsyncDisposable {
  /** Which backend this coordinator talks to. */
  readonly backend: BackendKind;
  readonly #backend: Backend;
  readonly #health: HealthBoard;

  /** @internal Use {@link connect}. */
  constructor(backend: Backend) {
    this.backend = backend.kind;
    this.#backend = backend;
    backends.set(this, backend);
    // An adapter that reports no state is taken as connected until closed.
    this.#health = backend.health ?? new HealthBoard(backend.kind);
    if (!backend.health) this.#health.contact();
  }

  /**
   * The connection state now: `connected`, `out-of-contact` (with `lossInMs`, the time left before
   * the session is declared lost unless contact returns), `lost` or `closed`.
   */
  health(): Health {
    return this.#health.snapshot();
  }

  /**
   * Every change of the connection state from now on (`connected`, `out-of-contact`, `lost`,
   * `reconnected`, `closed`), as Curator's connection-state listener reports them. Ends when
   * `options.signal` aborts, or after `closed`.
   */
  healthChanges(options?: { signal?: AbortSignal }): AsyncIterable<HealthEvent> {
    return this.#health.changes(options?.signal);
  }

  /**
   * A fair (FIFO) mutex named `name`.
   * @throws {@link InvalidArgumentError} at once for a bad name (see the README's name rules)
   */
  mutex(name: string): Mutex {
    return new Mutex(this.#backend, name);
  }

  /**
   * A fair counting semaphore named `name` with `options.permits` permits.
   * @throws {@link InvalidArgumentError} at once for a bad name (see the README's name rules) or permits (an integer from 1 to 1000000)
   */
  semaphore(name: string, options: SemaphoreOptions): Semaphore {
    return new Semaphore(this.#backend, name, options);
  }

  /**
   * A fair read-write lock named `name`.
   * @throws {@link InvalidArgumentError} at once for a bad name (see the README's name rules)
   */
  readWriteLock(name: string): ReadWriteLock {
    return new ReadWriteLock(this.#backend, name);
  }

  /**
   * A leader election named `name`.
   * @throws {@link InvalidArgumentError} at once for a bad name (see the README's name rules)
   */
  election(name: string): Election {
    return new Election(this.#backend, name);
  }

  /**
   * Reads back a key written by `lease.guardedWrite`: its value, or `undefined` when it does not
   * exist. `name` is the key as given to the write, under this coordinator's namespace or chroot.
   * @throws {@link InvalidArgumentError} at once for a name that is not valid (see the README's name rules)
   * @throws {@link TimeoutError} / {@link AbortError} when `options.timeoutMs` / `options.signal` end the read
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails
   */
  async readKey(name: string, options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<string | undefined> {
    checkName(name, 'key');
    using scope = openWaitScope(`read of key "${name}"`, options, TRY_OPTIONS);
    const state = await raceSignal(this.#backend.get(name, scope.signal), scope.signal);
    return state?.value;
  }

  /** A versioned value named `name`, updated by compare-and-set (optimistic updates). */
  value(name: string): VersionedValue {
    return new VersionedValue(this.#backend, name);
  }

  /** A barrier named `name`: set, waited on until removed. */
  barrier(name: string): Barrier {
    return new Barrier(this.#backend, name);
  }

  /** A double barrier named `name` for `options.members` members: enter together, leave together. */
  doubleBarrier(name: string, options: DoubleBarrierOptions): DoubleBarrier {
    return new DoubleBarrier(this.#backend, name, options);
  }

  /**
   * Several locks taken all or nothing, always in one global order (names sorted), so clients
   * asking for the same locks in different orders never deadlock. Throws InvalidArgumentError for
   * bad parts or a name given twice.
   */
  multiLock(parts: readonly LockPart[]): MultiLock {
    return new MultiLock(this, parts);
  }

  /** Ends the session (its holds are lost, its keys deleted) and closes the connection. Idempotent. */
  async close(): Promise<void> {
    await this.#backend.close();
    this.#health.closed();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Aborts the connection attempt; `connect` then rejects with an error named `'AbortError'`. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds; `connect` then rejects with an error named `'TimeoutError'`. */
  timeoutMs?: number;
}

/**
 * Connects to a backend. `config` is a URL (`memory://`, `etcd://host:port`,
 * `zookeeper://host:port/chroot`), an object form (`{ backend: 'etcd', endpoints: [...] }`), or
 * nothing: then the `BATON_BACKEND` environment variable, then the embedded `memory://`.
 * Throws ConfigError at once for a malformed or unknown configuration. `options.signal` and
 * `options.timeoutMs` bound the attempt (TimeoutError, AbortError); nothing is left open then.
 * @throws {@link ConfigError} at once for a malformed or unknown configuration, or a `BATON_BACKEND` set but empty
 * @throws {@link InvalidArgumentError} at once for bad options
 * @throws {@link TimeoutError} / {@link AbortError} when `options.timeoutMs` / `options.signal` end the attempt
 * @throws {@link BackendError} when the backend cannot be reached or refuses (e.g. bad credentials)
 */
export async function connect(config?: Config, options?: ConnectOptions): Promise<Coordinator> {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(`invalid connect options ${describe(options)}: options must be an object { signal?, timeoutMs? } or omitted`);
  }
  using scope = openWaitScope(`connecting to ${typeof config === 'string' ? config : (config?.backend ?? 'the default backend')}`, {
    signal: options?.signal,
    timeoutMs: options?.timeoutMs,
  });
  const opening = openBackend(config, scope.signal);
  try {
    return new Coordinator(await raceSignal(opening, scope.signal));
  } catch (error) {
    // A backend that connects after the caller gave up is closed at once.
    void opening.then((backend) => backend.close(), () => {});
    throw error;
  }
}

/**
 * The backend behind a coordinator, for tests: on the memory backend it is a `MemoryBackend`,
 * whose `faults` freeze the link or fail requests, and whose `stats()` count operations.
 *
 * ```ts
 * import { connect } from 'baton-locks';
 * import { backendOf, type MemoryBackend } from 'baton-locks/testing';
 * const coord = await connect();
 * (backendOf(coord) as MemoryBackend).faults.freeze(); // keep-alives stop: out of contact
 * ```
 * @throws TypeError when `coordinator` is not a Coordinator.
 */
export function backendOf(coordinator: Coordinator): Backend {
  const backend = backends.get(coordinator);
  if (!backend) throw new TypeError('not a Coordinator');
  return backend;
}
