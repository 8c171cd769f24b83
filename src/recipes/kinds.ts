/**
 * One name, one recipe kind. Every recipe queues its contenders under its name, and the keys say by
 * their role what they are for (`lock`, `latch`, `read`/`write`, `lease`). A recipe that finds keys
 * of another kind in the queue it just entered would wait on, or be granted by, keys whose rules
 * are not its own: a mutex taking a semaphore's permit, an election led by a mutex. So the newcomer
 * withdraws its key and refuses with a {@link NameConflictError} naming both kinds; whoever was
 * there first is left undisturbed.
 *
 * The check reads the listing `enqueue` returns anyway: no extra round trip, no marker key to
 * leak. A mutex or an election reads only its standing there (the head and the key just ahead,
 * so that entering a long queue costs no listing): it checks those two. Every Baton contender made
 * the same check on entering, so a queue that got past it is of one kind; what the narrower check
 * can miss is a peer's key (Go, Curator) of another kind that joined the queue in the middle.
 * Names ending in a semaphore's internal queues (`<name>/locks`, `<name>/leases`) are refused when
 * a recipe is made (validate.ts), so those queues hold a semaphore's keys only. The limit left is
 * the shared key layout on etcd: Go's election keys look like mutex keys (both
 * `<name>/<lease hex>`), so there an election tells a mutex from a Go campaigner by its value (a
 * mutex's is empty; `etcdctl elect` needs a proposal).
 * @module
 */
import type { Backend, QueueEntry, Role } from '../backends/contract.js';
import { NameConflictError } from '../errors.js';

/** The recipe kinds that queue under a name, as errors name them. */
export type RecipeKind = 'mutex' | 'election' | 'read-write lock' | 'semaphore';

/** What a recipe's queue may hold, besides its own keys. */
export interface QueueUse {
  /** The recipe asking, for the error message. */
  readonly kind: RecipeKind;
  /** The roles a key of this recipe's queue may have. */
  readonly roles: ReadonlySet<Role>;
}

export const MUTEX_USE: QueueUse = { kind: 'mutex', roles: new Set(['lock']) };
export const ELECTION_USE: QueueUse = { kind: 'election', roles: new Set(['latch']) };
export const RWLOCK_USE: QueueUse = { kind: 'read-write lock', roles: new Set(['read', 'write']) };
/** A semaphore's internal lock, `<name>/locks`: mutex keys by layout (Curator's). */
export const SEMAPHORE_GATE_USE: QueueUse = { kind: 'semaphore', roles: new Set(['lock']) };
/** A semaphore's permit keys, `<name>/leases`. */
export const SEMAPHORE_PERMITS_USE: QueueUse = { kind: 'semaphore', roles: new Set(['lease']) };

/** The kind a key of `role` belongs to, in words. */
function kindOf(entry: QueueEntry, prefix: string): string {
  switch (entry.role) {
    case 'lock':
      return 'a mutex';
    case 'latch':
      return 'an election';
    case 'read':
    case 'write':
      return 'a read-write lock';
    case 'lease':
      return prefix.endsWith('/leases') ? `semaphore "${prefix.slice(0, -'/leases'.length)}" (its permits)` : 'a semaphore';
  }
}

/**
 * The first key in `entries` that another recipe kind put there, or undefined. On etcd an
 * election reads the value of an unclassified key (`lock`): a Go campaigner's is its proposal,
 * a mutex's (Baton's, Go's, etcdctl's) is empty.
 */
export async function foreignKind(backend: Backend, use: QueueUse, entries: readonly QueueEntry[], signal?: AbortSignal): Promise<QueueEntry | undefined> {
  for (const entry of entries) {
    if (use.roles.has(entry.role)) continue;
    if (use === ELECTION_USE && backend.kind === 'etcd' && entry.role === 'lock') {
      const state = await backend.get(entry.key, signal);
      // Gone since the listing, or a Go campaigner with a proposal: no conflict.
      if (!state || state.value !== '') continue;
    }
    return entry;
  }
  return undefined;
}

/** The error for a recipe of kind `use.kind` that found `entry` in the queue at `prefix`. */
export function kindConflict(use: QueueUse, name: string, prefix: string, entry: QueueEntry): NameConflictError {
  return new NameConflictError(
    `"${name}" is in use by ${kindOf(entry, prefix)} (key ${entry.key}); asked for ${use.kind === 'election' ? 'an' : 'a'} ${use.kind}. ` +
      'One name serves one recipe kind: give each recipe its own name',
  );
}
