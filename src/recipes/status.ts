/**
 * A read-only snapshot of a recipe's queue: who holds and who waits, in queue order, with keys,
 * tokens and values. Built on the contract's `list` and `get` alone; it creates no key and needs
 * no session, so any client (the `baton status` command, a dashboard) can call it.
 *
 * The snapshot is a sequence of reads, not one atomic read: a key that vanishes between the
 * listing and its read is left out, and a queue that changes meanwhile may be shown half-changed.
 * @module
 */
import type { Backend, QueueEntry, Role } from '../backends/contract.js';
import { membersPrefix, plainKeysOf, readyFlagKey } from './plain-keys.js';
import type { AdmissionRule } from './queue.js';

/** One contender in a {@link QueueStatus}. */
export interface QueueMember {
  /** The contender's key in the backend. */
  readonly key: string;
  /** Its creation revision: the fencing token it holds or will hold. */
  readonly token: bigint;
  /** Its role, as parsed from the key (`'lock'` when the key's writer cannot be told). */
  readonly role: Role;
  /** The key's value: an election campaigner's value; `''` for locks. */
  readonly value: string;
  /**
   * When the key was created, in milliseconds since the epoch, where the backend records it
   * (ZooKeeper: the node's `ctime`). `undefined` where it does not: etcd keeps no creation time.
   */
  readonly createdAt: number | undefined;
}

/** Holders and waiters of a recipe, as {@link Mutex.status} and the others return them. */
export interface QueueStatus {
  /** The recipe's name. */
  readonly name: string;
  /** Current holders: one for a mutex, write lock or election; up to `permits` for a semaphore; any number of readers. */
  readonly holders: readonly QueueMember[];
  /** Waiters in the order they will be served; `waiters[i]` has position `i` (0 = next in line). */
  readonly waiters: readonly QueueMember[];
}

/** The members of a double barrier, as {@link DoubleBarrier.status} returns them. */
export interface DoubleBarrierStatus {
  /** The double barrier's name. */
  readonly name: string;
  /**
   * Whether every member has arrived (the ready flag is set): the members shown are through and
   * leave as they finish. False while the members shown wait for the rest.
   */
  readonly ready: boolean;
  /** The members in the barrier, in the order they entered. */
  readonly members: readonly QueueMember[];
}

/** Reads each listed key; keys gone since the listing are left out. */
async function readMembers(backend: Backend, entries: readonly QueueEntry[]): Promise<{ entry: QueueEntry; member: QueueMember }[]> {
  const states = await Promise.all(entries.map((entry) => backend.get(entry.key)));
  const members: { entry: QueueEntry; member: QueueMember }[] = [];
  entries.forEach((entry, i) => {
    const state = states[i];
    if (state) {
      members.push({
        entry,
        member: { key: entry.key, token: state.revision, role: entry.role, value: state.value, createdAt: state.createdAt },
      });
    }
  });
  return members;
}

/** The status of a queue whose admission follows `rule` (mutex, election, read-write lock). */
export async function queueStatus(backend: Backend, name: string, rule: AdmissionRule): Promise<QueueStatus> {
  const members = await readMembers(backend, await backend.list(name));
  const entries = members.map((m) => m.entry);
  const holders: QueueMember[] = [];
  const waiters: QueueMember[] = [];
  members.forEach(({ member }, index) => (rule.admits(entries, index) ? holders : waiters).push(member));
  return { name, holders, waiters };
}

/**
 * The status of a semaphore (InterProcessSemaphoreV2 layout): the first `permits` leases hold.
 * A lease beyond them belongs to the internal mutex's holder, which waits first in line; the
 * internal mutex's other contenders wait behind it, in their order.
 */
export async function semaphoreStatus(backend: Backend, name: string, permits: number): Promise<QueueStatus> {
  const [leases, gate] = await Promise.all([
    backend.list(`${name}/leases`).then((entries) => readMembers(backend, entries)),
    backend.list(`${name}/locks`).then((entries) => readMembers(backend, entries)),
  ]);
  const holders = leases.slice(0, permits).map((m) => m.member);
  const waitingLeases = leases.slice(permits).map((m) => m.member);
  // The gate holder has created its lease (shown above) or is about to; it is not listed twice.
  const gateWaiters = gate.slice(waitingLeases.length > 0 ? 1 : 0).map((m) => m.member);
  return { name, holders, waiters: [...waitingLeases, ...gateWaiters] };
}

/**
 * The status of double barrier `name`: its members' queue (`.baton/<name>/.members`) and its
 * ready flag (plain-keys.ts), read side by side.
 */
export async function doubleBarrierStatus(backend: Backend, name: string, signal?: AbortSignal): Promise<DoubleBarrierStatus> {
  const keys = plainKeysOf(backend, 'double barriers');
  const [members, ready] = await Promise.all([
    backend.list(membersPrefix(name), signal).then((entries) => readMembers(backend, entries)),
    keys.read(readyFlagKey(name), signal),
  ]);
  return { name, ready: ready !== undefined, members: members.map((m) => m.member) };
}
