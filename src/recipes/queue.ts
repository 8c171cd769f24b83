/**
 * The contender queue every recipe shares:
 * 1. create the contender's own ephemeral key under the prefix and list the prefix (one round trip);
 *    under the exclusive rule (mutex, election) read only the key's standing (the head and the
 *    key just ahead) instead, where the backend can, so entering costs the same in a queue of
 *    any length;
 * 2. if the recipe's rule admits it, hold;
 * 3. otherwise wait for the deletion of the one key the rule names, list again (or read the
 *    standing again), go to 2;
 * 4. the own-key watch, armed at enqueue, ends the wait as soon as the own key vanishes or the
 *    session is lost: a contender whose key is gone is never granted;
 * 5. a timeout, abort or failure while waiting starts the own key's removal (guaranteed) before
 *    the acquire rejects, and waits for its confirmation at most WITHDRAW_WAIT_MS: the key can
 *    outlive the rejection by as long as the backend takes to confirm. Every backend call is
 *    raced against the acquire's deadline, so an acquire rejects on time whatever the backend does.
 * @module
 */
import { raceSignal } from '../backends/abortable.js';
import type { Backend, Enqueued, EnqueueRead, OwnKey, QueueEntry, Role, Session, Standing } from '../backends/contract.js';
import { standingIn } from '../backends/standing.js';
import { AbortError, BatonError, LeaseLostError, SessionLostError, TimeoutError } from '../errors.js';
import { debug } from '../observability/debug.js';
import { canAbort, type LinkedSignal, linkSignals, neverAborting } from './linked-signal.js';
import { foreignKind, kindConflict, type QueueUse } from './kinds.js';
import { confirmedGone, followPosition, type HeadRule, type PositionReports } from './positions.js';
import type { WaitScope } from './wait-scope.js';

/** The part of a {@link WaitScope} that waiting needs. */
export type WaitLimits = Pick<WaitScope, 'signal' | 'onQueued' | 'unlimited'>;

/** A recipe's admission rule over a listing in creation order. */
export interface AdmissionRule {
  /** Whether the contender at `index` holds. */
  admits(entries: readonly QueueEntry[], index: number): boolean;
  /** The one key a contender at `index` that is not admitted must wait to see deleted. */
  blocker(entries: readonly QueueEntry[], index: number): QueueEntry;
  /**
   * Roles admitted together at the head of the queue, up to the first key of another role (the
   * read-write lock's readers); any other key is admitted only when first. Positions use it.
   */
  readonly shared: HeadRule['shared'];
  /**
   * Set when the rule is the exclusive one (admitted when first, waits for the key just ahead):
   * a contender then needs only its {@link Standing}, never the listing, so entering and every
   * wake-up read a size that does not grow with the queue.
   */
  readonly byStanding?: true;
}

/** Mutex and election: the lowest key holds; a waiter watches its immediate predecessor. */
export const exclusiveRule: AdmissionRule = {
  admits: (_entries, index) => index === 0,
  blocker: (entries, index) => entries[index - 1] as QueueEntry,
  shared: () => false,
  byStanding: true,
};

/** What a contender asks for. */
export interface ContenderRequest {
  /** The recipe's name, for errors. */
  readonly name: string;
  /** Which recipe kind queues here, and which roles its queue may hold (see kinds.ts). */
  readonly use: QueueUse;
  readonly prefix: string;
  readonly role: Role;
  readonly value: string;
  readonly rule: AdmissionRule;
}

/**
 * A contender's own key in a queue: a waiter until admitted, then the key of its hold. The own-key
 * watch armed at enqueue goes with it from waiting to holding.
 */
export interface Contender {
  readonly session: Session;
  readonly key: string;
  readonly revision: bigint;
  readonly own: OwnKey;
}

/**
 * How long a failed acquire waits for the removal of its key to be confirmed before it rejects.
 * The removal itself is guaranteed and carries on in the background; this only keeps the rejection
 * within its bound (timeoutMs + 250 ms) when the backend is slow to confirm.
 */
export const WITHDRAW_WAIT_MS = 100;

/**
 * Enters the queue and waits until admitted. Resolves to the admitted contender; rejects with the
 * scope's TimeoutError/AbortError, a SessionLostError, a LeaseLostError (own key deleted while
 * waiting) or a backend error, in each case after withdrawing the own key.
 */
export function contend(backend: Backend, request: ContenderRequest, scope: WaitLimits): Promise<Contender>;
/** As above, resolving to `make(admitted)` instead: a recipe's hold made without a step of its own. */
export function contend<T>(backend: Backend, request: ContenderRequest, scope: WaitLimits, make: (admitted: Contender) => T): Promise<T>;
export function contend<T>(backend: Backend, request: ContenderRequest, scope: WaitLimits, make?: (admitted: Contender) => T): Promise<T | Contender> {
  // One promise for the whole wait, settled by the contender's Admission: no suspended frame and
  // no chain of pending promises per waiting contender (each costs a waiter a few hundred bytes of
  // heap). Nothing made here is kept once the contender has entered: a closure of this function
  // kept for the wait would keep its options and their signal alive (most of a kilobyte).
  // With no limits, on a backend that never listens to a never-aborting signal while entering,
  // the scope's own signal is not made for entering (see Backend.entersWithoutListening).
  const signal = enteringSignal(backend, scope);
  return new Promise<T | Contender>((resolve, reject) => {
    // The hold is made as the Admission settles, not in a reaction of its own (one promise and
    // one turn of the microtask queue less per acquire).
    const admitted = make
      ? (contender: Contender) => {
          try {
            resolve(make(contender));
          } catch (error) {
            reject(error);
          }
        }
      : resolve;
    enter(backend, request, signal, (contender, first) => new Admission(backend, request, contender, admitted, reject).start(scope, first)).then(undefined, reject);
  });
}

/** The signal of waits that nothing aborts but the loss of the own key (see Backend.endsWaitWithOwnKey). */
const NEVER_ABORTED = neverAborting();

/**
 * The signal an acquire or a try enters within: the scope's own; or, when nothing can abort the
 * scope and the backend adds no listener to a never-aborting signal while entering
 * (Backend.entersWithoutListening), one shared signal that never aborts, so that the scope's own
 * (an AbortController, made when first read) is never made.
 */
export function enteringSignal(backend: Backend, scope: Pick<WaitScope, 'signal' | 'unlimited'>): AbortSignal {
  return scope.unlimited === true && backend.entersWithoutListening === true ? NEVER_ABORTED : scope.signal;
}

/** What an {@link Admission} ends with when the contender holds. */
const ADMITTED = Symbol('admitted');

/**
 * Enters the queue and leaves it at once unless admitted on entry: one round trip when admitted,
 * two when not. Resolves to the admitted contender, or undefined.
 */
export async function tryContend(backend: Backend, request: ContenderRequest, signal: AbortSignal): Promise<Contender | undefined> {
  const { contender, first } = await enter(backend, request, signal, (contender, first) => ({ contender, first }));
  if (first.present && !contender.own.lost && first.admitted) return contender;
  contender.own.dispose();
  // Leave no key behind: wait for the removal's confirmation (within the caller's limits).
  await raceSignal(contender.session.remove(contender.key, contender.revision), signal);
  if (!first.present) throw new LeaseLostError(`${contender.key} vanished right after it was created`);
  return undefined;
}

/**
 * Opens (or reuses) the session and creates the contender's key, both within `signal`, then hands
 * the contender and what entering saw to `entered`. A promise chain, not an async function: with
 * the backend's session already open ({@link Backend.liveSession}) entering takes one step, the
 * enqueue's, instead of an awaited session, an awaited enqueue and a promise of its own.
 */
function enter<T>(backend: Backend, request: ContenderRequest, signal: AbortSignal, entered: (contender: Contender, first: Look) => T): Promise<Awaited<T>> {
  if (signal.aborted) return Promise.reject(signal.reason);
  const live = backend.liveSession?.();
  if (live !== undefined) return enterSession(backend, request, live, signal, entered);
  return raceSignal(backend.session(signal), signal).then((session) => enterSession(backend, request, session, signal, entered));
}

/** {@link enter} once the session is known. */
function enterSession<T>(backend: Backend, request: ContenderRequest, session: Session, signal: AbortSignal, then: (contender: Contender, first: Look) => T): Promise<Awaited<T>> {
  const { rule } = request;
  return enqueueThen(session, request.prefix, request.role, request.value, signal, rule.byStanding ? 'standing' : 'listing', (entered): T | Promise<Awaited<T>> => {
    debug('enqueued %s (revision %s)', entered.key, String(entered.revision));
    const contender: Contender = { session, key: entered.key, revision: entered.revision, own: entered.own };
    // With the standing only, the check sees the head and the key just ahead (see kinds.ts).
    const first = (): Look => (rule.byStanding ? lookAt(entered.standing ?? standingIn(entered.entries, entered.key)) : look(rule, entered.key, entered.entries));
    // Every key of the recipe's own roles (an uncontended acquire sees only its own): nothing to
    // check, and no asynchronous step for it.
    if (entered.entries.every((entry) => request.use.roles.has(entry.role))) return then(contender, first());
    return refuseOtherKinds(backend, request, contender, entered.entries, signal).then(() => then(contender, first()) as Awaited<T>);
  }) as Promise<Awaited<T>>;
}

/**
 * Withdraws the contender and throws a NameConflictError when its queue holds another recipe
 * kind's keys: it would wait on, or be granted by, keys whose rules are not its own.
 */
async function refuseOtherKinds(backend: Backend, request: ContenderRequest, contender: Contender, entries: readonly QueueEntry[], signal: AbortSignal): Promise<void> {
  let other: QueueEntry | undefined;
  try {
    other = await foreignKind(backend, request.use, entries, signal);
  } catch (error) {
    await withdraw(contender);
    throw explain(error, contender.session);
  }
  if (!other) return;
  debug('%s found %s of another recipe kind: withdrawing', contender.key, other.key);
  await withdraw(contender);
  throw kindConflict(request.use, request.name, request.prefix, other);
}

/**
 * What a listing says about one contender. A waiter keeps this instead of the listing, whose
 * size is the queue's: a long queue would otherwise cost every waiter O(queue length) memory.
 */
interface Look {
  /** Whether the own key was listed. */
  readonly present: boolean;
  readonly admitted: boolean;
  /** The one key to wait for, when not admitted. */
  readonly blocker: QueueEntry | undefined;
  /**
   * Whether the rule admits once the blocker is gone. Keys only ever join behind the own key
   * (revisions grow), and every rule admits at least as readily with fewer keys ahead; so if it
   * admits with the blocker gone, it admits once the blocker is deleted, without listing again:
   * a handoff costs the release and one event.
   */
  readonly admittedOnceBlockerGone: boolean;
}

/** What a standing says about a contender under the exclusive rule: O(1), whatever the queue's length. */
function lookAt(standing: Standing): Look {
  if (!standing.present) return { present: false, admitted: false, blocker: undefined, admittedOnceBlockerGone: false };
  const blocker = standing.predecessor;
  if (!blocker) return { present: true, admitted: true, blocker: undefined, admittedOnceBlockerGone: true };
  // Second in line: the head's deletion admits it.
  return { present: true, admitted: false, blocker, admittedOnceBlockerGone: blocker.key === standing.head?.key };
}

/** Where `contender` stands now: a bounded read where the backend has one, else from a listing. */
async function readStanding(backend: Backend, prefix: string, contender: Contender, signal: AbortSignal): Promise<Standing> {
  if (backend.standing) return backend.standing(prefix, contender.key, contender.revision, signal);
  return standingIn(await backend.list(prefix, signal), contender.key);
}

function look(rule: AdmissionRule, key: string, entries: readonly QueueEntry[]): Look {
  const index = entries.findIndex((entry) => entry.key === key);
  if (index < 0) return { present: false, admitted: false, blocker: undefined, admittedOnceBlockerGone: false };
  if (rule.admits(entries, index)) return { present: true, admitted: true, blocker: undefined, admittedOnceBlockerGone: true };
  const blocker = rule.blocker(entries, index);
  const remaining = entries.filter((entry) => entry !== blocker);
  return { present: true, admitted: false, blocker, admittedOnceBlockerGone: rule.admits(remaining, index - 1) };
}

/**
 * `session.enqueue` within `signal`. If the caller gives up first and the enqueue still completes
 * afterwards, its key is removed then, so no late key is left behind. A promise chain, not an
 * async function: one step less on every acquire.
 */
export function enqueueWithin(session: Session, prefix: string, role: Role, value: string, signal: AbortSignal, read: EnqueueRead = 'listing'): Promise<Enqueued> {
  return enqueueThen(session, prefix, role, value, signal, read, (entered) => entered);
}

/**
 * {@link enqueueWithin}, continued with `then` in the same step: the enqueue's errors are
 * explained (see {@link explain}); what `then` throws is passed on as it is.
 */
function enqueueThen<T>(session: Session, prefix: string, role: Role, value: string, signal: AbortSignal, read: EnqueueRead, then: (entered: Enqueued) => T): Promise<Awaited<T>> {
  let entering: Promise<Enqueued>;
  try {
    entering = session.enqueue(prefix, role, value, signal, read);
  } catch (error) {
    return Promise.reject(explain(error, session));
  }
  // Nothing can stop the caller waiting for it: no late key to look after, only the error to explain.
  if (!canAbort(signal)) {
    return entering.then(then, (error: unknown) => {
      throw explain(error, session);
    }) as Promise<Awaited<T>>;
  }
  return raceSignal(entering, signal).then(then, (error: unknown) => {
    void entering.then(
      (late) => {
        late.own.dispose();
        return session.remove(late.key, late.revision);
      },
      () => {},
    );
    throw explain(error, session);
  }) as Promise<Awaited<T>>;
}

/**
 * One contender's wait until it is admitted: resolves with the contender, or withdraws its key
 * and rejects once it never will be. An object with its state in fields and two callbacks rather
 * than an async function or a closure per step: every waiting contender keeps one while it waits,
 * so what it keeps is counted in bytes (thousands of waiters in a process).
 */
class Admission {
  /** What the waits are bounded by (see {@link start}). */
  #signal: AbortSignal = NEVER_ABORTED;
  /** Whether the caller set limits (a timeout or a signal): every call is then raced against them. */
  #limited = false;
  #link: LinkedSignal | undefined;
  #positions: PositionReports | undefined;
  /** Whether the current round's blocker is the last key ahead that keeps the contender out (see {@link Look}). */
  #admittedOnceBlockerGone = false;
  readonly #woken = (handed: Standing | readonly QueueEntry[] | void): void => this.#afterWake(handed);
  readonly #finish = (outcome: unknown): void => this.#end(outcome);

  constructor(
    private readonly backend: Backend,
    private readonly request: ContenderRequest,
    private readonly contender: Contender,
    private readonly resolve: (admitted: Contender) => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  /** Starts waiting from what entering saw (`first`), within the caller's limits. */
  start(scope: WaitLimits, first: Look): void {
    const { backend, request, contender } = this;
    if (!first.present) return this.#settle(this.#lost());
    // Admitted on entry: the uncontended path. The listing (or the create's own answer) says the key
    // was there; an own-key watch that already saw it gone, or the session lost, says it is not now.
    if (first.admitted) return this.#settle(contender.own.lost ? this.#lost() : ADMITTED);
    // The own-key watch carries the session's loss too: a waiter learns it when a holder would.
    // With no timeout and no caller signal it alone can end the wait: no link, no race needed.
    // (An unlimited scope's signal is not read: reading it would make one.)
    this.#limited = scope.unlimited !== true && canAbort(scope.signal);
    this.#link = this.#limited ? linkSignals(scope.signal, contender.own.signal) : undefined;
    // Where the backend ends a blocker wait itself when the own key is lost, a waiter with no
    // limits waits on one shared signal that never aborts: its own key's signal is never made.
    const selfEnding = !this.#limited && request.rule.byStanding === true && backend.endsWaitWithOwnKey === true;
    this.#signal = this.#link ? this.#link.signal : selfEnding ? NEVER_ABORTED : contender.own.signal;
    // Positions come from the coordinator's one view of the queue, at O(1) per change per waiter;
    // the wait below never depends on them, so a waiter that asks for them is woken no more often.
    this.#positions = scope.onQueued ? followPosition(backend, request.prefix, request.rule, contender.key, scope.onQueued) : undefined;
    this.#round(first);
  }

  #lost(): LeaseLostError {
    return new LeaseLostError(`${this.contender.key} was deleted while waiting in ${this.request.prefix}`);
  }

  #bounded<T>(call: Promise<T>): Promise<T> {
    return this.#limited ? raceSignal(call, this.#signal) : call;
  }

  /** One round: wait for the blocker's deletion, then admitted, or look again. */
  #round(current: Look): void {
    const { backend, request, contender } = this;
    try {
      throwIfLost(contender, this.#signal);
      if (!current.present) throw this.#lost();
      const blocker = current.blocker;
      if (current.admitted || !blocker) return this.#end(ADMITTED);
      debug('%s waits for %s to be deleted', contender.key, blocker.key);
      // One wait per round and it ends with the round (deleted or aborted): no round signal needed.
      // The backend may hand over the standing (the exclusive rule; the contender goes with its
      // own-key watch, see Backend.endsWaitWithOwnKey) or the listing it sees once the blocker is
      // gone (etcd: from its watched view of the queue): then the wake-up reads nothing. A listing
      // is asked for only when the deletion alone does not decide.
      const waiter = request.rule.byStanding ? contender : current.admittedOnceBlockerGone ? undefined : { key: contender.key, revision: contender.revision, listing: true };
      // Only this is kept of the look while waiting, not the look and its blocker's entry.
      this.#admittedOnceBlockerGone = current.admittedOnceBlockerGone;
      this.#bounded(backend.waitForBlocker(blocker.key, blocker.revision, this.#signal, waiter)).then(this.#woken, this.#finish);
    } catch (error) {
      this.#end(error);
    }
  }

  /** The blocker is gone: admitted, or look again (from what the backend handed over, else a read). */
  #afterWake(handed: Standing | readonly QueueEntry[] | void): void {
    const { backend, request, contender } = this;
    const { rule, prefix } = request;
    try {
      // The own-key watch has reported any deletion of the own key that came before this
      // wake-up: an own key gone ends the wait here, it is never granted. Nor is a waiter whose
      // session was declared lost, whatever woke it (a wake-up seen on a later session says
      // nothing of its key).
      throwIfLost(contender, this.#signal);
      throwIfAborted(contender.session.signal);
      if (this.#admittedOnceBlockerGone) return this.#end(ADMITTED);
      if (handed) return this.#round(isListing(handed) ? look(rule, contender.key, handed) : lookAt(handed));
      const next = rule.byStanding
        ? this.#bounded(readStanding(backend, prefix, contender, this.#signal)).then(lookAt)
        : this.#bounded(backend.list(prefix, this.#signal)).then((entries) => look(rule, contender.key, entries));
      next.then((current) => this.#round(current), this.#finish);
    } catch (error) {
      this.#end(error);
    }
  }

  /** Ends the wait (`ADMITTED` or the error that ends it): positions stopped, the link undone. */
  #end(outcome: unknown): void {
    this.#positions?.stop(outcome === ADMITTED);
    this.#link?.[Symbol.dispose]();
    this.#settle(outcome);
  }

  /** Resolves with the contender when admitted; otherwise withdraws its key, then rejects. */
  #settle(outcome: unknown): void {
    const contender = this.contender;
    if (outcome === ADMITTED) this.resolve(contender);
    else void withdraw(contender).then(() => this.reject(explain(outcome, contender.session)));
  }
}

function isListing(handed: Standing | readonly QueueEntry[]): handed is readonly QueueEntry[] {
  return Array.isArray(handed);
}

/**
 * Withdraws contenders that will not hold (timeout, abort, failure): each key's removal is
 * guaranteed and goes on in the background; this waits for the confirmations at most
 * {@link WITHDRAW_WAIT_MS} in all, so the caller's rejection stays within its bound. An acquire
 * that leaves several keys (the semaphore's gate and permit) withdraws them in one call: one
 * after the other, a backend that does not answer would cost the wait once per key. Never rejects.
 */
export async function withdraw(...contenders: readonly Contender[]): Promise<void> {
  const removals = contenders.map((contender) => {
    debug('withdrawing %s', contender.key);
    contender.own.dispose();
    return contender.session.remove(contender.key, contender.revision).then(
      // No position report made after this counts the key (positions.ts).
      () => confirmedGone(contender.key, contender.revision),
      () => {},
    );
  });
  await waitAtMost(Promise.all(removals), WITHDRAW_WAIT_MS);
}

/** Waits for `settling` to settle, at most `ms`; never rejects. */
export async function waitAtMost(settling: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([settling.then(noop, noop), bound]);
  clearTimeout(timer);
}

function noop(): void {}

/** The error an acquire rejects with, given what ended its wait. */
export function explain(error: unknown, session: Session): unknown {
  // When the session ended, that is the cause, whatever symptom (a vanished key) surfaced first.
  if (session.signal.aborted && !(error instanceof TimeoutError || error instanceof AbortError)) {
    const reason: unknown = session.signal.reason;
    return reason instanceof BatonError ? reason : new SessionLostError('the session was lost while waiting', { cause: reason });
  }
  return error;
}

/** Throws when the contender's own key is lost or `signal` (its wait's) aborted. */
function throwIfLost(contender: Contender, signal: AbortSignal): void {
  // Read first: the own key's signal is made only once it is lost.
  if (contender.own.lost) throw contender.own.signal.reason;
  throwIfAborted(signal);
}

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason;
}
