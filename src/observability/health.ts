/**
 * A coordinator's connection state, as Curator's connection-state listener reports it:
 * `connected`, `out-of-contact` (with how long until the session is declared lost), `lost`,
 * `reconnected`, and finally `closed`. The backend adapter reports what it learns; users read it
 * with `coord.health()` and follow it with `coord.healthChanges()`.
 * @module
 */
import type { BackendKind } from '../backends/kind.js';
import { debug } from './debug.js';

/** Where a coordinator stands with its backend. */
export type ContactState = 'connected' | 'out-of-contact' | 'lost' | 'closed';

/** One change of a coordinator's connection state. */
export interface HealthEvent {
  /**
   * `connected`: first contact (a session opened). `out-of-contact`: the backend stopped
   * answering; holds are still valid until `lossAt`. `lost`: the session was lost (holds
   * aborted). `reconnected`: contact again after `out-of-contact` or `lost`. `closed`: the
   * coordinator was closed; no later event.
   */
  readonly type: 'connected' | 'out-of-contact' | 'lost' | 'reconnected' | 'closed';
  /** Milliseconds since the epoch at which the change was seen. */
  readonly at: number;
  /** For `out-of-contact`: when the session will be declared lost unless contact returns. */
  readonly lossAt?: number;
  /** For `out-of-contact`: milliseconds from `at` until `lossAt`. */
  readonly lossInMs?: number;
  /** For `lost`: why. */
  readonly error?: unknown;
}

/** A snapshot of a coordinator's connection state: `coord.health()`. */
export interface Health {
  readonly backend: BackendKind;
  readonly state: ContactState;
  /** Milliseconds since the epoch at which this state began. */
  readonly since: number;
  /** The current session's id, if one is open. */
  readonly session: string | undefined;
  /** When out of contact: milliseconds left until the session is declared lost. */
  readonly lossInMs?: number;
  /** When lost: why. */
  readonly error?: unknown;
  /**
   * The session TTL in force, in milliseconds, once a session was opened: on ZooKeeper the
   * timeout the server negotiated, which it clamps to its bounds (by default 2 to 20 times its
   * tickTime), so it can differ from the one asked for.
   */
  readonly ttlMs?: number;
  /** The session TTL asked for, in milliseconds, when the server granted another ({@link ttlMs}). */
  readonly requestedTtlMs?: number;
}

/**
 * The state board a backend adapter writes to. Reports that do not change the state (a second
 * `contact()` while connected) are ignored, so adapters may report freely.
 */
export class HealthBoard {
  #state: ContactState = 'connected';
  #since = Date.now();
  #session: string | undefined;
  #everConnected = false;
  #lossAt: number | undefined;
  #error: unknown;
  #ttlMs: number | undefined;
  #requestedTtlMs: number | undefined;
  readonly #listeners = new Set<(event: HealthEvent) => void>();

  constructor(readonly backend: BackendKind) {}

  /** A session was opened or contact returned. */
  contact(sessionId?: string): void {
    if (sessionId !== undefined) this.#session = sessionId;
    if (this.#state === 'closed') return;
    if (!this.#everConnected) {
      this.#everConnected = true;
      this.#set('connected', { type: 'connected', at: Date.now() });
    } else if (this.#state !== 'connected') {
      this.#set('connected', { type: 'reconnected', at: Date.now() });
    }
  }

  /**
   * The session TTL the server granted (`grantedMs`) for the one asked for (`requestedMs`). A
   * difference is logged (NODE_DEBUG=baton) and shown by {@link snapshot}.
   */
  sessionTtl(grantedMs: number, requestedMs: number): void {
    if (grantedMs !== requestedMs && grantedMs !== this.#ttlMs) {
      debug('%s: the server granted a session TTL of %d ms where %d ms was asked for', this.backend, grantedMs, requestedMs);
    }
    this.#ttlMs = grantedMs;
    this.#requestedTtlMs = requestedMs;
  }

  /** The backend stopped answering; the session is declared lost at `lossAt` (epoch ms). */
  outOfContact(lossAt: number): void {
    if (this.#state === 'closed' || this.#state === 'lost') return;
    if (this.#state === 'out-of-contact') {
      // Still out of contact: a refined deadline is no new event.
      this.#lossAt = lossAt;
      return;
    }
    const at = Date.now();
    this.#lossAt = lossAt;
    this.#set('out-of-contact', { type: 'out-of-contact', at, lossAt, lossInMs: Math.max(0, lossAt - at) });
  }

  /** The session was lost. */
  lost(error: unknown): void {
    if (this.#state === 'closed' || this.#state === 'lost') return;
    this.#session = undefined;
    this.#error = error;
    this.#set('lost', { type: 'lost', at: Date.now(), error });
  }

  /** The coordinator was closed. */
  closed(): void {
    if (this.#state === 'closed') return;
    this.#session = undefined;
    this.#set('closed', { type: 'closed', at: Date.now() });
    this.#listeners.clear();
  }

  #set(state: ContactState, event: HealthEvent): void {
    this.#state = state;
    this.#since = event.at;
    if (state !== 'out-of-contact') this.#lossAt = undefined;
    if (state !== 'lost') this.#error = undefined;
    debug('%s: %s%s', this.backend, event.type, event.lossInMs === undefined ? '' : ` (lost in ${event.lossInMs} ms unless contact returns)`);
    for (const listener of [...this.#listeners]) listener(event);
  }

  snapshot(): Health {
    return {
      backend: this.backend,
      state: this.#state,
      since: this.#since,
      session: this.#session,
      ...(this.#lossAt !== undefined ? { lossInMs: Math.max(0, this.#lossAt - Date.now()) } : {}),
      ...(this.#state === 'lost' ? { error: this.#error } : {}),
      ...(this.#ttlMs !== undefined ? { ttlMs: this.#ttlMs } : {}),
      ...(this.#ttlMs !== undefined && this.#requestedTtlMs !== this.#ttlMs ? { requestedTtlMs: this.#requestedTtlMs } : {}),
    };
  }

  /** Calls `listener` on every change until the returned function is called. */
  subscribe(listener: (event: HealthEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every change from now on, until `signal` aborts or the board is closed (then `closed` comes last). */
  async *changes(signal?: AbortSignal): AsyncGenerator<HealthEvent, void, undefined> {
    if (this.#state === 'closed') return;
    const queue: HealthEvent[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = this.subscribe((event) => {
      queue.push(event);
      wake?.();
    });
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        while (queue.length > 0) {
          const event = queue.shift() as HealthEvent;
          yield event;
          if (event.type === 'closed') return;
        }
        if (signal?.aborted) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      unsubscribe();
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
