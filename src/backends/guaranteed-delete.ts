/**
 * Guaranteed removal of contender keys, as Curator's `guaranteed()` delete, for every adapter.
 * A key whose deletion is uncertain (the request failed, timed out, or its answer was lost) is
 * tried again until the backend confirms it gone; if that cannot be confirmed within the
 * session's TTL, the session is ended, so the key vanishes with it. No failure ever leaves a live
 * session's key in a queue. The caller may stop waiting (its signal); the removal carries on.
 * @module
 */
import { raceSignal } from './abortable.js';

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
  attemptRemoveWithin?(key: string, revision: bigint | undefined, ms: number): Promise<void>;
  /** Ends the session (its keys vanish); resolves even when the backend cannot be reached. */
  end(): Promise<void>;
}

/** Pause between attempts: short at first, at most a second. */
const backoffMs = (attempt: number) => Math.min(25 * 2 ** attempt, 1000);

/** The removals of one session, one per key at a time. */
export class GuaranteedRemovals {
  readonly #pending = new Map<string, { revision: bigint | undefined; removal: Promise<void> }>();
  /** Deadlines of the attempts in flight, all aborted by the session's end (one listener for all). */
  readonly #attempts = new Set<AbortController>();
  /** Deadlines of the attempts that bound themselves ({@link RemovalHost.attemptRemoveWithin}). */
  readonly #deadlines = new Deadlines();
  /** Removals that ended the session because the key could not be confirmed gone (for tests). */
  endedSessions = 0;

  constructor(private readonly host: RemovalHost) {
    host.signal.addEventListener(
      'abort',
      () => {
        for (const attempt of this.#attempts) attempt.abort(host.signal.reason);
        this.#attempts.clear();
        this.#deadlines.expireAll(host.signal.reason);
      },
      { once: true },
    );
  }

  /**
   * Removes `key` (see `Session.remove`): resolves once it is confirmed gone or the session has
   * ended; rejects only with `signal.reason`, and the removal goes on regardless.
   */
  remove(key: string, revision: bigint | undefined, signal?: AbortSignal): Promise<void> {
    if (this.host.signal.aborted) return Promise.resolve();
    const pending = this.#pending.get(key);
    let removal = pending && pending.revision === revision ? pending.removal : undefined;
    if (!removal) {
      // Another creation of the same key (a withdrawn create that committed late) is removed
      // after the removal in flight, which may have been decided before it existed.
      const before = pending?.removal;
      const run = before ? before.then(() => this.#run(key, revision)) : this.#run(key, revision);
      const entry = { revision, removal: run };
      removal = run.finally(() => {
        if (this.#pending.get(key) === entry) this.#pending.delete(key);
      });
      entry.removal = removal;
      this.#pending.set(key, entry);
    }
    return raceSignal(removal, signal);
  }

  /** How many removals are still trying (for tests and close). */
  get pending(): number {
    return this.#pending.size;
  }

  async #run(key: string, revision: bigint | undefined): Promise<void> {
    const session = this.host.signal;
    const giveUpAt = performance.now() + this.host.ttlMs;
    for (let attempt = 0; ; attempt++) {
      if (session.aborted) return;
      const left = giveUpAt - performance.now();
      if (left <= 0) {
        this.endedSessions++;
        await this.host.end();
        return;
      }
      // Each attempt has its own deadline, so one lost request cannot use up the whole TTL.
      const attemptMs = Math.max(250, Math.min(left, this.host.ttlMs / 3));
      if (await this.#attempt(key, revision, attemptMs)) return;
      await pause(Math.min(backoffMs(attempt), Math.max(0, giveUpAt - performance.now())));
    }
  }

  /** One attempt within `ms`; true when the key is confirmed gone or the session ended. */
  async #attempt(key: string, revision: bigint | undefined, ms: number): Promise<boolean> {
    const session = this.host.signal;
    if (session.aborted) return true;
    if (this.host.attemptRemoveWithin) {
      const deadline = this.#deadlines.add(ms, key);
      try {
        await deadline.race(this.host.attemptRemoveWithin(key, revision, ms));
        return true;
      } catch {
        return session.aborted;
      } finally {
        this.#deadlines.delete(deadline);
      }
    }
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

/** Waits `ms` (at most a second; the loop checks the session after it). */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One attempt's deadline, watched by {@link Deadlines}. */
class Deadline {
  #expire: ((reason: unknown) => void) | undefined;
  #reason: unknown;

  constructor(
    readonly endsAt: number,
    readonly ms: number,
    readonly key: string,
  ) {}

  /** `attempt`, or a rejection once the deadline passes (or the session ends), whichever comes first. */
  race(attempt: Promise<void>): Promise<void> {
    attempt.catch(() => {});
    if (this.#reason !== undefined) return Promise.reject(this.#reason);
    return new Promise((resolve, reject) => {
      this.#expire = reject;
      attempt.then(resolve, reject);
    });
  }

  expire(reason: unknown): void {
    this.#reason ??= reason;
    this.#expire?.(this.#reason);
    this.#expire = undefined;
  }
}

/**
 * The deadlines of a session's removal attempts, watched by one timer: armed for the earliest
 * deadline, and left running when attempts end in time (it then finds nothing to do and stops).
 * A release in a loop thus arms no timer of its own: the one armed by an earlier attempt, a third
 * of the TTL ahead, covers it. Not referenced: an attempt in flight keeps the process alive by its
 * own request, and a finished one should not.
 */
class Deadlines {
  readonly #live = new Set<Deadline>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;

  add(ms: number, key: string): Deadline {
    const deadline = new Deadline(performance.now() + ms, ms, key);
    this.#live.add(deadline);
    if (deadline.endsAt < this.#timerAt) this.#arm(deadline.endsAt);
    return deadline;
  }

  delete(deadline: Deadline): void {
    this.#live.delete(deadline);
  }

  expireAll(reason: unknown): void {
    const live = [...this.#live];
    this.#live.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    for (const deadline of live) deadline.expire(reason);
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, at - performance.now()));
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const deadline of [...this.#live]) {
      if (deadline.endsAt <= now) {
        this.#live.delete(deadline);
        deadline.expire(new Error(`removing ${deadline.key} took longer than ${deadline.ms} ms`));
      } else if (deadline.endsAt < next) next = deadline.endsAt;
    }
    if (next < Infinity) this.#arm(next);
  }
}
