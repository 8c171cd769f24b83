/**
 * Leader election: campaigners queue as a fair mutex does, and the lowest key leads. Its value is
 * what observers see; the leader can change it (proclaim) or step down (resign).
 * @module
 */
import type { Backend, KeyState, QueueEntry } from '../backends/contract.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { raceSignal } from '../backends/abortable.js';
import { BackendError, ContactLostError, InvalidArgumentError, LeaseLostError } from '../errors.js';
import { checkQueueName, checkSignal, checkValue, describe } from '../validate.js';
import { observeAcquire } from '../observability/events.js';
import { Hold } from './hold.js';
import { ELECTION_USE, foreignKind, kindConflict } from './kinds.js';
import { linkSignals } from './linked-signal.js';
import { type Contender, type ContenderRequest, contend, exclusiveRule } from './queue.js';
import type { AcquireOptions, LeaderInfo, Leadership } from './types.js';
import { type WaitScope, waitWithin } from './wait-scope.js';
import { type QueueStatus, queueStatus } from './status.js';
import { withHold } from './with-hold.js';

class Leader extends Hold implements Leadership {
  #value: string;
  readonly #contender: Contender;

  constructor(name: string, contender: Contender, value: string) {
    super(name, contender);
    this.#contender = contender;
    this.#value = value;
  }

  get value(): string {
    return this.#value;
  }

  async proclaim(value: string): Promise<void> {
    checkValue(value);
    const updated = !this.signal.aborted && (await this.#contender.session.updateIf(this.key, this.token, value));
    if (!updated) throw new LeaseLostError(`cannot proclaim in ${this.name}: leadership (${this.key}) is no longer held`);
    this.#value = value;
  }

  resign(): Promise<void> {
    return this.release();
  }
}

/** A leader election. Get one with `coordinator.election(name)`. */
export class Election {
  readonly name: string;
  readonly #backend: Backend;

  /** @internal */
  constructor(backend: Backend, name: string) {
    this.name = checkQueueName(name);
    this.#backend = backend;
  }

  /**
   * Joins the election with `value` and resolves once this campaigner leads.
   * @throws {@link InvalidArgumentError} at once for a value that is not a string of at most 64 KiB
   * @throws {@link InvalidArgumentError} at once for bad options (an unknown field, a negative timeoutMs)
   * @throws {@link TimeoutError} after `timeoutMs` (within 250 ms more), its key withdrawn (the removal may complete after the rejection)
   * @throws {@link AbortError} when `signal` aborts, its key withdrawn (the removal may complete after the rejection)
   * @throws {@link SessionLostError} when the session is lost while waiting
   * @throws {@link LeaseLostError} when its key is deleted by someone else while waiting
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails in a way no retry can mend
   */
  campaign(value: string, options?: AcquireOptions): Promise<Leadership> {
    try {
      checkValue(value);
    } catch (error) {
      return Promise.reject(error);
    }
    return waitWithin(`campaign in election "${this.name}"`, options, (scope) =>
      observeAcquire(this.#backend.kind, 'election', this.name, () => this.#campaignNow(value, scope)),
    );
  }

  async #campaignNow(value: string, scope: WaitScope): Promise<Leadership> {
    const request: ContenderRequest = { name: this.name, use: ELECTION_USE, prefix: this.name, role: 'latch', value, rule: exclusiveRule };
    return new Leader(this.name, await contend(this.#backend, request, scope), value);
  }

  /**
   * Campaigns with `value`, runs `fn` once leader and resigns afterwards, also when `fn` throws.
   * `fn` should watch `leadership.signal`: it aborts if leadership is lost meanwhile.
   * @throws {@link InvalidArgumentError} at once for bad options (an unknown field, a negative timeoutMs)
   * @throws {@link TimeoutError} after `timeoutMs` (within 250 ms more), its key withdrawn (the removal may complete after the rejection)
   * @throws {@link AbortError} when `signal` aborts, its key withdrawn (the removal may complete after the rejection)
   * @throws {@link SessionLostError} when the session is lost while waiting
   * @throws {@link LeaseLostError} when its key is deleted by someone else while waiting
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails in a way no retry can mend
   * @throws whatever `fn` throws, after releasing
   */
  withLeadership<T>(value: string, fn: (leadership: Leadership) => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    return withHold('withLeadership', fn, () => this.campaign(value, options));
  }

  /** The leader (as holder) and the campaigners in line behind it, with values and tokens: a read-only snapshot. */
  status(): Promise<QueueStatus> {
    return queueStatus(this.#backend, this.name, exclusiveRule);
  }

  /**
   * The current leader, or undefined when nobody leads.
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails
   */
  async leader(): Promise<LeaderInfo | undefined> {
    for (;;) {
      const [first] = await this.#backend.list(this.name);
      if (!first) return undefined;
      await this.#refuseOtherKind(first);
      const state = await this.#backend.get(first.key);
      // The leader may have gone between the list and the read: look again.
      if (state) return leaderInfo(first, state);
    }
  }

  /**
   * Yields the current leader (or undefined), then every change: a new leader, a value
   * proclaimed, no leader. Ends when `signal` aborts or the loop breaks.
   *
   * No change and no contact look alike on a watch, so while it waits the observer reads the
   * election every `contactTimeoutMs / 2` (default 10000 ms in all): when the backend has not
   * answered for `contactTimeoutMs`, the iteration throws a {@link ContactLostError}, since the
   * leader may have changed unseen. Observe again to resume once the backend answers.
   * @throws {@link InvalidArgumentError} at once for a `signal` that is not an AbortSignal or a bad `contactTimeoutMs`
   * @throws {@link ContactLostError} when the backend did not answer for `contactTimeoutMs`
   * @throws {@link NameConflictError} when the name is in use by another recipe kind
   * @throws {@link ClosedError} after `coord.close()`
   * @throws {@link BackendError} when the backend fails
   */
  async *observe(options: ObserveOptions = {}): AsyncGenerator<LeaderInfo | undefined, void, undefined> {
    const signal = checkSignal(options?.signal) ?? new AbortController().signal;
    const contactTimeoutMs = checkContactTimeout(options?.contactTimeoutMs);
    let last: LeaderInfo | undefined | null = null;
    // Contact is counted across rounds: a round restarted by a lost session or connection must
    // not start the count again, or an outage that keeps restarting rounds would go unreported.
    const contact: Contact = { answeredAt: performance.now(), lastError: undefined };
    while (!signal.aborted) {
      // The round's watches end with the round (next loop, break, or the generator's return).
      using round = linkSignals(signal);
      const lost = this.#watchContact(round.signal, contactTimeoutMs, contact);
      lost.catch(() => {});
      try {
        const seen = await Promise.race([this.#observeOnce(round.signal), lost]);
        contact.answeredAt = performance.now();
        if (seen === 'retry') continue;
        if (last === null || !sameLeader(last, seen.leader)) {
          last = seen.leader;
          yield seen.leader;
        }
        await Promise.race([seen.changed, lost]);
      } catch (error) {
        if (signal.aborted) return;
        if (!(error instanceof BackendError) || error instanceof ContactLostError) throw error;
        // A read or watch that failed (a connection or session the backend could not give back)
        // is no answer: read again until the contact timeout has passed without one. Thrown at
        // once, it would end an observer during an outage it is meant to report.
        contact.lastError = error;
        const left = contact.answeredAt + contactTimeoutMs - performance.now();
        if (left <= 0) throw this.#contactLost(contactTimeoutMs, error);
        // Referenced: while the backend is away nothing else may keep the process running.
        await sleep(Math.ceil(Math.min(left, contactTimeoutMs / 10)), undefined, { signal }).catch(() => {});
      }
    }
  }

  /**
   * Reads the election every `timeoutMs / 2` after the last answer, each read bounded by the time
   * left, until `signal` aborts; rejects with a ContactLostError once `timeoutMs` passed since
   * the last answer (`contact.answeredAt`, which answered reads move on).
   */
  async #watchContact(signal: AbortSignal, timeoutMs: number, contact: Contact): Promise<never> {
    const every = timeoutMs / 2;
    for (;;) {
      const left = contact.answeredAt + timeoutMs - performance.now();
      if (left <= 0) throw this.#contactLost(timeoutMs, contact.lastError);
      const probeAt = contact.answeredAt + every - performance.now();
      if (probeAt > 0) {
        await sleep(Math.ceil(Math.min(probeAt, left)), undefined, { signal, ref: false });
        continue;
      }
      using probe = linkSignals(signal, AbortSignal.timeout(Math.max(1, Math.ceil(left))));
      try {
        // Raced as well: a backend busy getting a connection back may answer the abort late.
        await raceSignal(this.#backend.list(this.name, probe.signal), probe.signal);
        contact.answeredAt = performance.now();
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (!probe.signal.aborted) {
          contact.lastError = error;
          // A refusal comes back at once: wait for the deadline (or the round's end) instead of asking again.
          await sleep(Math.max(0, Math.ceil(contact.answeredAt + timeoutMs - performance.now())), undefined, { signal, ref: false });
        }
      }
    }
  }

  #contactLost(timeoutMs: number, cause: unknown): ContactLostError {
    return new ContactLostError(
      `lost contact with ${this.#backend.kind} while observing election "${this.name}": no answer for ${timeoutMs} ms` +
        `${cause instanceof Error && !(cause instanceof DOMException) ? ` (last error: ${cause.message})` : ''}; ` +
        'the leader may have changed unseen. Observe again to resume once it answers',
      { cause },
    );
  }

  /** Throws a NameConflictError when the first key under the name is another recipe kind's: no leader to report. */
  async #refuseOtherKind(first: QueueEntry, signal?: AbortSignal): Promise<void> {
    const other = await foreignKind(this.#backend, ELECTION_USE, [first], signal);
    if (other) throw kindConflict(ELECTION_USE, this.name, this.name, other);
  }

  /** Reads the leader with a watch armed on what would change it. */
  async #observeOnce(signal: AbortSignal): Promise<{ leader: LeaderInfo | undefined; changed: Promise<void> } | 'retry'> {
    const queue = await this.#backend.watchPrefix(this.name, signal);
    const [first] = queue.current;
    if (!first) return { leader: undefined, changed: queue.changed };
    await this.#refuseOtherKind(first, signal);
    // With a leader, only its key matters: new campaigners queue behind it.
    const key = await this.#backend.watchKey(first.key, signal);
    if (!key.current) return 'retry';
    return { leader: leaderInfo(first, key.current), changed: key.changed };
  }
}

/** An observer's last answer from the backend (monotonic ms) and the last failure since. */
interface Contact {
  answeredAt: number;
  lastError: unknown;
}

function leaderInfo(entry: QueueEntry, state: KeyState): LeaderInfo {
  return { key: entry.key, value: state.value, token: state.revision };
}

function sameLeader(a: LeaderInfo | undefined, b: LeaderInfo | undefined): boolean {
  return a?.key === b?.key && a?.value === b?.value && a?.token === b?.token;
}

/** Options of {@link Election.observe}. */
export interface ObserveOptions {
  /** Ends the iteration (quietly) when it aborts. */
  signal?: AbortSignal;
  /**
   * How long the backend may go without answering before the iteration throws a
   * `ContactLostError` (default 10000; from 100 to 2147483647 ms).
   */
  contactTimeoutMs?: number;
}

const DEFAULT_CONTACT_TIMEOUT_MS = 10_000;

function checkContactTimeout(value: unknown): number {
  if (value === undefined) return DEFAULT_CONTACT_TIMEOUT_MS;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 100 || value > 2 ** 31 - 1) {
    throw new InvalidArgumentError(`invalid contactTimeoutMs ${describe(value)}: contactTimeoutMs must be a number of milliseconds from 100 to 2147483647, or omitted (10000)`);
  }
  return value;
}
