/**
 * Node names shared with Apache Curator and kazoo, and the order of a queue's children.
 *
 * Curator's protected mode names a contender `_c_<uuid>-<lock name><10-digit sequence>`, where
 * the lock name says what the node is for (`lock-`, `latch-`, `lease-`, `__READ__`, `__WRIT__`).
 * kazoo names its contenders `<uuid>__lock__<seq>` / `<uuid>__rlock__<seq>`. Every one of them
 * ends with the server-assigned sequence, so ordering by that suffix orders every client's nodes
 * under one parent by creation.
 *
 * The sequence is a per-parent signed 32-bit counter that the server bumps with every sequential
 * child created, printed as `%010d`; deletes do not move it (ZooKeeper 3.8: three create+delete
 * pairs named 0, 1, 2 while the parent's `cversion`, which deletes bump too, read 1, 3, 5). After
 * 2^31 creates it wraps to negative numbers
 * (`-2147483648`, then `-2147483647`, ... `-000000001`, `0000000000`), so suffixes are compared as
 * 32-bit serial numbers (RFC 1982): `a` precedes `b` when `b - a`, wrapped to 32 bits, is
 * positive. That orders any set of live contenders correctly as long as their sequences span less
 * than 2^31 bumps, which no real queue comes near.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { QueueEntry, Role } from '../contract.js';

/** The prefix Curator's protected mode puts before the uuid. */
export const PROTECTED_PREFIX = '_c_';

/** The lock name that follows the uuid, per role (Curator's layouts). */
const ROLE_MARKERS: Readonly<Record<Role, string>> = {
  lock: '-lock-',
  latch: '-latch-',
  lease: '-lease-',
  read: '-__READ__',
  write: '-__WRIT__',
};

/** Markers recognised in other clients' names, tested in this order; the first match wins. */
const PARSE_MARKERS: ReadonlyArray<readonly [string, Role]> = [
  ['__READ__', 'read'],
  ['__WRIT__', 'write'],
  ['__rlock__', 'read'], // kazoo ReadLock
  ['-latch-', 'latch'],
  ['-lease-', 'lease'],
];

/**
 * The name to create (the server appends the sequence): `_c_<uuid>-lock-` and so on. The uuid
 * makes the name unique for ever, which is what lets a client find its own node again after a
 * connection loss during create (protected create).
 */
export function nodeNamePrefix(uuid: string, role: Role): string {
  return `${PROTECTED_PREFIX}${uuid}${ROLE_MARKERS[role]}`;
}

/** A fresh uuid for one contender node. */
export function newNodeUuid(): string {
  return randomUUID();
}

/** A sequence as the server prints it in a name (Java's `%010d`): `0000000042`, `-000000007`. */
export function formatSequence(sequence: number): string {
  const digits = String(Math.abs(sequence));
  return sequence < 0 ? `-${digits.padStart(9, '0')}` : digits.padStart(10, '0');
}

/**
 * The trailing sequence of a child name (a signed 32-bit number), or undefined when it has none:
 * ten digits, or a minus and nine digits (`-000000007`), or a minus and ten digits starting with 1
 * or 2 (`-2147483648`) after a marker ending in `-` or `_`. Read by character codes from the end,
 * not by a regular expression anchored at the end, which tries every position of the name: every
 * listed child is read once per listing, an uncontended acquire's own included.
 */
export function sequenceOf(name: string): number | undefined {
  const n = name.length;
  if (n < 10 || !digitsIn(name, n - 9, n)) return undefined;
  const lead = name.charCodeAt(n - 10);
  // From -1000000000 to -2147483648: eleven characters, the sign right after the name's marker
  // (which ends in '-' or '_'). Without that marker before it, `-lock-1500000000` is the positive
  // sequence 1500000000 after the marker `-lock-`.
  if ((lead === ONE || lead === TWO) && n >= 12 && name.charCodeAt(n - 11) === MINUS) {
    const before = name.charCodeAt(n - 12);
    if (before === MINUS || before === UNDERSCORE) return Number(name.slice(-11));
  }
  return isDigit(lead) || lead === MINUS ? Number(name.slice(-10)) : undefined;
}

const MINUS = 45;
const UNDERSCORE = 95;
const ZERO = 48;
const ONE = 49;
const TWO = 50;
const NINE = 57;

function isDigit(code: number): boolean {
  return code >= ZERO && code <= NINE;
}

/** Whether `text` has only ASCII digits from `start` to `end`. */
function digitsIn(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (!isDigit(text.charCodeAt(i))) return false;
  return true;
}

/**
 * Compares two sequences as 32-bit serial numbers (RFC 1982): negative when `a` was assigned
 * before `b`, positive when after, 0 when equal. Wrap-around included: 2147483647 precedes
 * -2147483648, which precedes -1, which precedes 0.
 */
export function compareSequences(a: number, b: number): number {
  return (a - b) | 0;
}

/** The role encoded in a child's name; a name nobody's layout explains is a `'lock'`. */
export function roleOf(name: string): Role {
  for (const [marker, role] of PARSE_MARKERS) if (name.includes(marker)) return role;
  return 'lock';
}

/**
 * The contender children of one parent, ordered by trailing sequence in serial-number order (ties,
 * which one parent never produces, by name). Children without a sequence are not contenders and are left out.
 */
export function orderChildren(parentPath: string, children: readonly string[]): QueueEntry[] {
  const sequenced: Array<{ name: string; sequence: number }> = [];
  for (const name of children) {
    const sequence = sequenceOf(name);
    if (sequence !== undefined) sequenced.push({ name, sequence });
  }
  sequenced.sort((a, b) => compareSequences(a.sequence, b.sequence) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const base = parentPath === '/' ? '' : parentPath;
  return sequenced.map(({ name }) => ({ key: `${base}/${name}`, role: roleOf(name) }));
}

/** Whether a node's name carries a uuid after the protected prefix: a name no other create gets. */
export function isProtectedName(name: string): boolean {
  return name.startsWith(PROTECTED_PREFIX) && name.length > 40;
}

/** The child among `children` that carries `uuid` (protected create), if any. */
export function findByUuid(children: readonly string[], uuid: string): string | undefined {
  return children.find((name) => name.includes(uuid));
}
