/**
 * What the dashboard shows, computed from one scan of a prefix: every recipe name under it, its
 * kind (told from the keys' roles and layout), its holders and waiters in queue order, tokens,
 * values and sessions. Pure functions over a scan, so the page and `/snapshot.json` agree.
 *
 * A double barrier's members queue under `.baton/<name>/.members` (recipes/plain-keys.ts): it is
 * shown under its own name, with its ready flag as read beside the scan. No other key under
 * `.baton/` is a name of its own.
 * @module
 */
import type { Role, ScannedKey } from '../backends/contract.js';
import { doubleBarrierOfMembers, isInternal } from '../recipes/plain-keys.js';

/** The kinds of recipe the dashboard can tell apart from the keys alone. */
export type NameKind = 'mutex' | 'election' | 'read-write lock' | 'semaphore' | 'double barrier';

/** One contender as the page shows it. */
export interface DashboardMember {
  readonly key: string;
  /** Fencing token (creation revision), as a decimal string: JSON has no bigint. */
  readonly token: string;
  readonly role: Role;
  /** An election campaigner's value; `''` for locks. */
  readonly value: string;
  /** The owning session's id, where the backend reports it. */
  readonly session: string | undefined;
  /** When the key was created (ms since the epoch), or when the dashboard first saw it. */
  readonly since: number;
  /** Whether `since` is the key's creation time (true) or the first sighting (false). */
  readonly sinceCreated: boolean;
}

export interface DashboardName {
  readonly name: string;
  readonly kind: NameKind;
  readonly holders: readonly DashboardMember[];
  /** In the order they will be served: `waiters[0]` is next in line. */
  readonly waiters: readonly DashboardMember[];
  /** The current leader's value, for an election with a leader. */
  readonly leader?: string;
  /**
   * A double barrier's members, in the order they entered (as `DoubleBarrier.status()` gives
   * them); its `holders` and `waiters` are empty: its members wait for the rest together, then
   * are all through.
   */
  readonly members?: readonly DashboardMember[];
  /** For a double barrier: whether every member has arrived (its ready flag is set). */
  readonly ready?: boolean;
}

export interface DashboardSnapshot {
  readonly prefix: string;
  readonly backend: string;
  /** When the scan was taken, ms since the epoch. */
  readonly at: number;
  readonly names: readonly DashboardName[];
  /** Sessions owning keys under the prefix, with remaining time where the backend reports it. */
  readonly sessions: readonly { readonly id: string; readonly keys: number; readonly remainingMs: number | undefined }[];
}

/** Remembers when each key was first seen, for backends that keep no creation time (etcd). */
export class Sightings {
  readonly #firstSeen = new Map<string, number>();

  since(key: ScannedKey, now: number): { since: number; sinceCreated: boolean } {
    if (key.createdAt !== undefined) return { since: key.createdAt, sinceCreated: true };
    const id = `${key.key}@${key.revision}`;
    let seen = this.#firstSeen.get(id);
    if (seen === undefined) this.#firstSeen.set(id, (seen = now));
    return { since: seen, sinceCreated: false };
  }

  /** Forgets keys that are gone, so the map does not grow without bound. */
  keepOnly(keys: readonly ScannedKey[]): void {
    const live = new Set(keys.map((key) => `${key.key}@${key.revision}`));
    for (const id of this.#firstSeen.keys()) if (!live.has(id)) this.#firstSeen.delete(id);
  }
}

/**
 * Builds the snapshot of one scan. `keys` may come in any order. `ready` names the double
 * barriers whose ready flag was set when read.
 */
export function buildSnapshot(
  scan: {
    readonly prefix: string;
    readonly backend: string;
    readonly keys: readonly ScannedKey[];
    readonly sessions?: ReadonlyMap<string, number>;
    readonly ready?: ReadonlySet<string>;
  },
  sightings: Sightings,
  now = Date.now(),
): DashboardSnapshot {
  sightings.keepOnly(scan.keys);
  const byParent = new Map<string, ScannedKey[]>();
  for (const key of scan.keys) {
    const list = byParent.get(key.parent) ?? [];
    list.push(key);
    byParent.set(key.parent, list);
  }
  for (const list of byParent.values()) list.sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0));
  const member = (key: ScannedKey): DashboardMember => ({
    key: key.key,
    token: String(key.revision),
    role: key.role,
    value: key.value,
    session: key.session,
    ...sightings.since(key, now),
  });

  const names: DashboardName[] = [];
  const semaphores = new Set<string>();
  for (const parent of byParent.keys()) {
    if (isInternal(parent)) continue;
    const match = /^(.*)\/(locks|leases)$/.exec(parent);
    const owner = match?.[1];
    if (owner !== undefined && byParent.get(`${owner}/leases`)?.every((key) => key.role === 'lease') !== false) semaphores.add(owner);
  }
  for (const name of semaphores) {
    const leases = byParent.get(`${name}/leases`) ?? [];
    const gate = byParent.get(`${name}/locks`) ?? [];
    // The internal mutex's holder waits for a permit with a lease of its own session; that lease
    // is the newest of its session's, and it is shown as waiting, first in line.
    const gateHead = gate[0];
    const waitingLease = gateHead?.session !== undefined ? leases.findLast((key) => key.session === gateHead.session) : undefined;
    const holders = leases.filter((key) => key !== waitingLease).map(member);
    const waiters = [...(waitingLease ? [waitingLease] : []), ...gate.slice(waitingLease ? 1 : 0)].map(member);
    names.push({ name, kind: 'semaphore', holders, waiters });
  }
  for (const [parent, keys] of byParent) {
    const barrier = doubleBarrierOfMembers(parent);
    if (barrier !== undefined) {
      names.push({ name: barrier, kind: 'double barrier', holders: [], waiters: [], members: keys.map(member), ready: scan.ready?.has(barrier) ?? false });
      continue;
    }
    if (isInternal(parent)) continue;
    const owner = /^(.*)\/(locks|leases)$/.exec(parent)?.[1];
    if (owner !== undefined && semaphores.has(owner)) continue;
    names.push(queueOf(parent, keys.map((key) => ({ key, shown: member(key) }))));
  }
  names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const sessionKeys = new Map<string, number>();
  for (const key of scan.keys) if (key.session !== undefined) sessionKeys.set(key.session, (sessionKeys.get(key.session) ?? 0) + 1);
  const sessions = [...sessionKeys].map(([id, keys]) => ({ id, keys, remainingMs: scan.sessions?.get(id) }));
  return { prefix: scan.prefix, backend: scan.backend, at: now, names, sessions };
}

/** A mutex, election or read-write lock: told apart by roles, admitted by the same rules the recipes use. */
function queueOf(name: string, members: readonly { key: ScannedKey; shown: DashboardMember }[]): DashboardName {
  const roles = new Set(members.map(({ key }) => key.role));
  if (roles.has('read') || roles.has('write')) {
    const holders: DashboardMember[] = [];
    const waiters: DashboardMember[] = [];
    let exclusiveAhead = false;
    members.forEach(({ key, shown }, index) => {
      const admitted = key.role === 'read' ? !exclusiveAhead : index === 0;
      (admitted ? holders : waiters).push(shown);
      if (key.role !== 'read') exclusiveAhead = true;
    });
    return { name, kind: 'read-write lock', holders, waiters };
  }
  const election = roles.has('latch') || members.some(({ key }) => key.value !== '');
  const [first, ...rest] = members.map(({ shown }) => shown);
  const holders = first ? [first] : [];
  return election
    ? { name, kind: 'election', holders, waiters: rest, ...(first ? { leader: first.value } : {}) }
    : { name, kind: 'mutex', holders, waiters: rest };
}
