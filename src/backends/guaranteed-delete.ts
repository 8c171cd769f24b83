/**
 * Guaranteed removal of contender keys, as Curator's `guaranteed()` delete, for every adapter.
 * A key whose deletion is uncertain (the request failed, timed out, or its answer was lost) is
 * tried again until the backend confirms it gone; if that cannot be confirmed within the
 * session's TTL, the session is ended, so the key vanishes with it. No failure ever leaves a live
 * session's key in a queue. The caller may stop waiting (its signal); the removal carries on.
 * @module
 */
import { raceSignal } from './abortable.js';
import { DeadlineTimer, type Expiring } from './deadline-timer.js';

/** What a removal needs from its session. */
export interface RemovalHost {
  /** The session's signal: once it aborts the session's keys vanish with it, and removal stops. */
  readonly signal: AbortSignal;
  /** The session's TTL in milliseconds: how long removal may keep trying before ending the session. */
  readonly ttlMs: number;
  /**
   * One attempt: deletes `key` if it has creation revision `revision`, and resolves once the
   * backend confirmed the key gone (deleted now, absent, or present with another creation
   * revision; `revision` undefined: any creation of a name that is never reused). Rejects when the outcome is unknown or the attempt failed. `signal` is the
   * attempt's own deadline.
   */
  attemptRemove(key: string, revision: bigint | undefined, signal: AbortSignal): Promise<void>;
  /**
   * Optional, used instead of {@link attemptRemove} when present: one attempt that ends on its own
   * within about `ms` (the adapter's own request deadlines bound it), so it needs no signal. Such
   * an attempt costs no AbortController and no timer of its own: one timer per session watches
   * every attempt's deadline, and an attempt still running at its deadline is given up on then.
   */
  attemptRemoveWithin?(key: string, revision: bigint | undefined, ms: number): Promise<unknown>;
  /** Ends the session (its keys vanish); resolves even when the backend cannot be reached. */
  end(): Promise<void>;
}

/** Pause between attempts: short at first, at most a second. */
const backoffMs = (attempt: number) => Math.min(25 * 2 ** attempt, 1000);

/**
 * The removals of one session, one per key at a time. Its public face is what an adapter uses;
 * what the removals share (their deadlines, the removal pending for each key) is kept inside.
 */
export class GuaranteedRemovals {
  readonly #shared: SessionRemovals;

  constructor(readonly host: RemovalHost) {
    const shared = new SessionRemovals(host);
    this.#shared = shared;
    host.signal.addEventListener('abort', () => shared.sessionEnded(), { once: true });
  }

  /**
   * Removes `key` (see `Session.remove`): resolves once it is confirmed gone or the session has
   * ended; rejects only with `signal.reason`, and the removal goes on regardless.
   */
  remove(key: string, revision: bigint | undefined, signal?: AbortSignal): Promise<void> {
    if (this.host.signal.aborted) return Promise.resolve();
    const shared = this.#shared;
    const pending = shared.pending.get(key);
    if (pending && pending.revision === revision) return raceSignal(pending.done, signal);
    const removal = new Removal(shared, key, revision);
    shared.pending.set(key, removal);
    // Another creation of the same key (a withdrawn create that committed late) is removed
    // after the removal in flight, which may have been decided before it existed.
    if (pending) void pending.done.then(() => removal.start());
    else removal.start();
    return raceSignal(removal.done, signal);
  }

  /** How many removals are still trying (for tests and close). */
  get pending(): number {
    return this.#shared.pending.size;
  }

  /** How many removals ended the session because their key could not be confirmed gone (for tests). */
  get endedSessions(): number {
    return this.#shared.endedSessions;
  }
}

/** What the removals of one session share. */
class SessionRemovals {
  /** The removal in progress for each key. */
  readonly pending = new Map<string, Removal>();
  /** The deadlines of the signal-taking attempts in flight, all aborted by the session's end (one listener for all). */
  readonly #attempts = new Set<AbortController>();
  /**
   * Deadlines of the attempts that bound themselves ({@link RemovalHost.attemptRemoveWithin}): one
   * timer for the session. A release in a loop thus arms no timer of its own: the one armed by an
   * earlier attempt, a third of the TTL ahead, covers it.
   */
  readonly deadlines = new DeadlineTimer();
  /** Removals that ended the session because the key could not be confirmed gone. */
  endedSessions = 0;

  constructor(readonly host: RemovalHost) {}

  /** The session ended: every attempt in flight is over now, whatever its deadline. */
  sessionEnded(): void {
    for (const attempt of this.#attempts) attempt.abort(this.host.signal.reason);
    this.#attempts.clear();
    this.deadlines.expireAll();
  }

  /** `removal` is over: it no longer stands for its key. */
  ended(removal: Removal): void {
    if (this.pending.get(removal.key) === removal) this.pending.delete(removal.key);
  }

  /** One attempt within `ms` with a signal of its own (hosts without attemptRemoveWithin); true when confirmed gone or the session ended. */
  async attemptWithSignal(key: string, revision: bigint | undefined, ms: number): Promise<boolean> {
    const session = this.host.signal;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error(`removing ${key} took longer than ${ms} ms`)), ms);
    this.#attempts.add(deadline);
    try {
      await raceSignal(this.host.attemptRemove(key, revision, deadline.signal), deadline.signal);
      return true;
    } catch {
      return session.aborted;
    } finally {
      clearTimeout(timer);
      this.#attempts.delete(deadline);
    }
  }
}

/**
 * One key's removal: attempts until the key is confirmed gone, the session ends, or the TTL is
 * spent (then it ends the session). Driven by the attempts' callbacks rather than an async loop:
 * a release makes one promise here ({@link done}), and an attempt answered in time no other.
 */
class Removal {
  readonly done: Promise<void>;
  #resolve!: () => void;
  #giveUpAt = 0;
  #attempt = 0;
  /** The attempt in flight, by number: a late answer of one given up on is ignored. */
  #current = 0;
  #deadline: Deadline | undefined;

  constructor(
    private readonly owner: SessionRemovals,
    readonly key: string,
    readonly revision: bigint | undefined,
  ) {
    this.done = new Promise<void>((resolve) => (this.#resolve = resolve));
  }

  start(): void {
    this.#giveUpAt = performance.now() + this.owner.host.ttlMs;
    this.#next();
  }

  #next(): void {
    const { host } = this.owner;
    if (host.signal.aborted) return this.#finish();
    const left = this.#giveUpAt - performance.now();
    if (left <= 0) {
      this.owner.endedSessions++;
      void host.end().then(
        () => this.#finish(),
        () => this.#finish(),
      );
      return;
    }
    // Each attempt has its own deadline, so one lost request cannot use up the whole TTL.
    const ms = Math.max(250, Math.min(left, host.ttlMs / 3));
    const number = ++this.#current;
    if (!host.attemptRemoveWithin) {
      void this.owner.attemptWithSignal(this.key, this.revision, ms).then((gone) => this.#ended(number, gone));
      return;
    }
    this.#deadline = new Deadline(performance.now() + ms, this, number);
    this.owner.deadlines.watch(this.#deadline);
    host.attemptRemoveWithin(this.key, this.revision, ms).then(
      () => this.#ended(number, true),
      () => this.#ended(number, false),
    );
  }

  /** Attempt `number` ended: confirmed gone, or not (failed, or its deadline passed). */
  #ended(number: number, gone: boolean): void {
    if (number !== this.#current) return;
    this.#current = 0;
    if (this.#deadline) this.owner.deadlines.forget(this.#deadline);
    this.#deadline = undefined;
    if (gone || this.owner.host.signal.aborted) return this.#finish();
    const pause = Math.min(backoffMs(this.#attempt++), Math.max(0, this.#giveUpAt - performance.now()));
    // At most a second; the next attempt checks the session first.
    setTimeout(() => this.#next(), pause);
  }

  /** Attempt `number`'s deadline passed (or the session ended) before it was answered. */
  expired(number: number): void {
    this.#ended(number, false);
  }

  #finish(): void {
    this.owner.ended(this);
    this.#resolve();
  }
}

/** One attempt's deadline, watched by the session's {@link DeadlineTimer}. */
class Deadline implements Expiring {
  constructor(
    readonly expiresAt: number,
    readonly removal: Removal,
    readonly attempt: number,
  ) {}

  expire(): void {
    this.removal.expired(this.attempt);
  }
}
