/**
 * The contender queue every recipe shares:
 * 1. create the contender's own ephemeral key under the prefix and list the prefix (one round trip);
 * 2. if the recipe's rule admits it, hold;
 * 3. otherwise wait for the deletion of the one key the rule names, list again, go to 2;
 * 4. after every wake-up the listing shows whether the own key still exists; the session's
 *    signal whether the session is alive;
 * 5. a timeout, abort or failure while waiting deletes the own key before the acquire rejects.
 * @module
 */
import type { Backend, QueueEntry, Role, Session } from '../backends/contract.js';
import { AbortError, BatonError, LeaseLostError, SessionLostError, TimeoutError } from '../errors.js';
import type { HeldKey } from './hold.js';
import { linkSignals } from './linked-signal.js';
import type { WaitScope } from './wait-scope.js';

/** The part of a {@link WaitScope} that waiting needs. */
export type WaitLimits = Pick<WaitScope, 'signal' | 'onQueued'>;

/** A recipe's admission rule over a listing in creation order. */
export interface AdmissionRule {
  /** Whether the contender at `index` holds. */
  admits(entries: readonly QueueEntry[], index: number): boolean;
  /** The one key a contender at `index` that is not admitted must wait to see deleted. */
  blocker(entries: readonly QueueEntry[], index: number): QueueEntry;
}

/** Mutex and election: the lowest key holds; a waiter watches its immediate predecessor. */
export const exclusiveRule: AdmissionRule = {
  admits: (_entries, index) => index === 0,
  blocker: (entries, index) => entries[index - 1] as QueueEntry,
};

/** Waiters ahead of `index`: the keys before it that the rule does not admit. */
export function positionOf(rule: AdmissionRule, entries: readonly QueueEntry[], index: number): number {
  let waiting = 0;
  for (let i = 0; i < index; i++) if (!rule.admits(entries, i)) waiting++;
  return waiting;
}

/** What a contender asks for. */
export interface ContenderRequest {
  readonly prefix: string;
  readonly role: Role;
  readonly value: string;
  readonly rule: AdmissionRule;
}

/**
 * Enters the queue and waits until admitted. Resolves to the held key; rejects with the scope's
 * TimeoutError/AbortError, a SessionLostError, a LeaseLostError (own key deleted while waiting)
 * or a backend error, in each case after deleting the own key.
 */
export async function contend(backend: Backend, request: ContenderRequest, scope: WaitLimits): Promise<HeldKey> {
  throwIfAborted(scope.signal);
  const session = await backend.session();
  const entered = await session.enqueue(request.prefix, request.role, request.value);
  const held: HeldKey = { session, key: entered.key, revision: entered.revision };
  try {
    await waitForAdmission(backend, request, scope, held, entered.entries);
    return held;
  } catch (error) {
    // The original failure matters more than a failed clean-up, whose key the session's end removes.
    await withdraw(held).catch(() => {});
    throw explain(error, session);
  }
}

/**
 * Enters the queue and leaves it at once unless admitted on entry: one round trip when admitted,
 * two when not. Resolves to the held key, or undefined.
 */
export async function tryContend(backend: Backend, request: ContenderRequest): Promise<HeldKey | undefined> {
  const session = await backend.session();
  const entered = await session.enqueue(request.prefix, request.role, request.value);
  const held: HeldKey = { session, key: entered.key, revision: entered.revision };
  const index = entered.entries.findIndex((entry) => entry.key === held.key);
  if (index >= 0 && request.rule.admits(entered.entries, index)) return held;
  await withdraw(held);
  if (index < 0) throw new LeaseLostError(`${held.key} vanished right after it was created`);
  return undefined;
}

async function waitForAdmission(
  backend: Backend,
  request: ContenderRequest,
  scope: WaitLimits,
  held: HeldKey,
  firstListing: readonly QueueEntry[],
): Promise<void> {
  let reported: number | undefined;
  /** The own key's index; a vanished own key ends the wait. */
  const ownIndex = (entries: readonly QueueEntry[]): number => {
    const index = entries.findIndex((entry) => entry.key === held.key);
    if (index < 0) throw new LeaseLostError(`${held.key} was deleted while waiting in ${request.prefix}`);
    return index;
  };
  /** The blocker to wait for, or undefined when admitted; reports a changed position. */
  const judge = (entries: readonly QueueEntry[]): QueueEntry | undefined => {
    const index = ownIndex(entries);
    if (request.rule.admits(entries, index)) return undefined;
    const position = positionOf(request.rule, entries, index);
    if (position !== reported) {
      reported = position;
      scope.onQueued?.(position);
    }
    return request.rule.blocker(entries, index);
  };
  let entries = firstListing;
  if (judge(entries) === undefined) return; // admitted on entry: the uncontended path
  using wait = linkSignals(scope.signal, held.session.signal);
  for (;;) {
    throwIfAborted(wait.signal);
    const blocker = judge(entries);
    if (!blocker) return;
    {
      using round = linkSignals(wait.signal);
      if (scope.onQueued) {
        // Whoever asked for positions also hears of changes ahead of it, at one more round trip
        // per wake-up; everyone else is woken only by the deletion of its one blocker.
        const watched = await backend.watchPrefix(request.prefix, round.signal);
        const current = judge(watched.current);
        if (!current) return;
        await Promise.race([backend.waitForDelete(current.key, round.signal, current.revision), watched.changed]);
      } else {
        await backend.waitForDelete(blocker.key, round.signal, blocker.revision);
        throwIfAborted(wait.signal);
        // Keys only ever join behind the own key (revisions grow), and every rule admits at least
        // as readily with fewer keys ahead. So if the rule admits with the blocker gone, it admits
        // now, without listing again: a handoff costs the release and one event. The hold's own
        // key watch still reports a key that vanished meanwhile.
        const remaining = entries.filter((entry) => entry.key !== blocker.key);
        if (request.rule.admits(remaining, ownIndex(remaining))) return;
      }
    }
    throwIfAborted(wait.signal);
    entries = await backend.list(request.prefix);
  }
}

/** Deletes a contender's own key; a lost session's keys are gone already. */
export async function withdraw(held: HeldKey): Promise<void> {
  try {
    await held.session.deleteIf(held.key, held.revision);
  } catch (error) {
    if (!held.session.signal.aborted) throw error;
  }
}

/** The error an acquire rejects with, given what ended its wait. */
function explain(error: unknown, session: Session): unknown {
  // When the session ended, that is the cause, whatever symptom (a vanished key) surfaced first.
  if (session.signal.aborted && !(error instanceof TimeoutError || error instanceof AbortError)) {
    const reason: unknown = session.signal.reason;
    return reason instanceof BatonError ? reason : new SessionLostError('the session was lost while waiting', { cause: reason });
  }
  return error;
}

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason;
}
